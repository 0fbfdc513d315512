"""Several models of one task predicting at the same time, on the CPUs the task has.

Measured on the full-size round (6,720 rows × 3,555 int8 features, 2,000-tree depth-6
CatBoost models, 2 CPUs, a quiet machine): ten models in one task took 2.6 s two at a
time, each predicting on one thread, against 2.9 s one after another on CatBoost's two
threads (one model alone: 1.4 s), and 7% less CPU. CatBoost's threads split every block
and wait for each other on it; two models at once only share the feature blocks
(job.matrix), and each model's other steps (loading its file, validation, the upload,
which waits on Numerai's network in production) overlap the other's predict. The cost
left is CatBoost's own, ~0.14 s of CPU per model on all 3,555 features; sharing anything
more between models does not lower it (a pool quantised once predicts no faster).

Only predictors whose package declares it (``predictors.protocol.PARALLEL_DECLARATION``)
run at once: one that turns the whole frame into pandas (model_upload) would multiply
its memory. ``NUMERAI_PARALLEL_MODELS`` caps the models at once (1: one after another).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from common.registry import ModelEntry
from job.plugins import declaration
from predictors.protocol import PARALLEL_DECLARATION

T = TypeVar("T")
R = TypeVar("R")

# cgroup v2: "<quota> <period>" in µs, or "max <period>" without a limit. A container's
# CPU limit (Cloud Run's --cpu, docker --cpus) shows here, not in the affinity mask.
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


@dataclass(frozen=True)
class Plan:
    cpus: int  # what the task may use
    models_at_once: int
    threads: int  # CPU threads each model may use while it predicts


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs this process may run on, capped by a cgroup CPU quota (rounded up)."""
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity else (os.cpu_count() or 1)
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):  # no cgroup v2 here, or a format we do not know
        pass
    return cpus


def plan(share: Sequence[ModelEntry], limit: int | None, cpus: int) -> Plan:
    """``limit``: NUMERAI_PARALLEL_MODELS (None: one model per CPU)."""
    predictors = {entry.predictor for entry in share}
    parallel = len(share) > 1 and all(
        declaration(name, PARALLEL_DECLARATION) is True for name in predictors
    )
    at_once = min(limit or cpus, len(share)) if parallel else 1
    return Plan(cpus=cpus, models_at_once=at_once, threads=max(1, cpus // at_once))


def run_in_order(fn: Callable[[T], R], items: Iterable[T], at_once: int) -> Iterator[R]:
    """``fn(item)`` for every item, ``at_once`` at a time; the results in the order of
    ``items``, each as soon as it and those before it are done."""
    if at_once <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="model") as pool:
        yield from pool.map(fn, items)
