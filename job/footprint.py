"""Process-wide memory settings, made before the heavy libraries load (``python -m job``).

Measured with one CatBoost model on the full-size round's 780-feature set (peak RSS
303 MiB before; `make bench-job` measures the job as a whole):

- pyarrow. pandas imports it whenever it is installed (for its Arrow-backed dtypes), and
  numerapi and CatBoost import pandas, so every run paid for pyarrow's libraries: ~60 MiB
  of peak RSS, though only predictors that hand pandas frames to a model (model_upload)
  use it. A predictor package whose code and libraries need no pyarrow says so in its
  ``__init__.py`` (``predictors.protocol.PYARROW_DECLARATION``); when every model of this
  task's share is such a predictor, ``import pyarrow`` is made to fail before anything
  imports pandas (a ``None`` in ``sys.modules``, Python's documented way), and pandas and
  polars work as they do where pyarrow is not installed. 303 → 245 MiB.
- polars' allocator. polars allocates with its own jemalloc, which polars sets to keep
  freed pages for 0.5-1 s to reuse them; what the job allocates after the read (numpy,
  CatBoost) comes from glibc's malloc and cannot reuse them. Decay 0 hands them back to
  the system at once: 245 → 223 MiB. polars appends ``_RJEM_MALLOC_CONF`` to its own
  settings (the last word wins), so a value set in the environment wins over this one.
- OpenBLAS's threads. numpy's OpenBLAS starts a worker thread per CPU when numpy is
  imported, and each spins for 2**28 cycles (~0.1 s) waiting for work before it sleeps,
  which the job never gives it (pred1 does no linear algebra): 0.13 s of CPU per run,
  measured, which on one vCPU is taken from the imports. ``OPENBLAS_THREAD_TIMEOUT=4``
  (OpenBLAS's minimum, 2**4 cycles) lets them sleep at once; they still serve a pickle
  that multiplies matrices. A value set in the environment wins.

All three settle things for the whole process, so only the job's own process applies them
(``job.cli.main(own_process=True)``); tests that call the job in-process do not.
"""

from __future__ import annotations

import os
import sys

from common.registry import RegistryError, load_registry
from job.plugins import declaration
from job.selection import select_models, task_share
from job.settings import ConfigError, Settings
from predictors.protocol import PYARROW_DECLARATION

PYARROW = "pyarrow"
# jemalloc's configuration variable, with the prefix of the copy built into polars.
JEMALLOC_CONF_ENV = "_RJEM_MALLOC_CONF"
JEMALLOC_CONF = "dirty_decay_ms:0,muzzy_decay_ms:0"
# Read by OpenBLAS when numpy loads it.
OPENBLAS_TIMEOUT_ENV = "OPENBLAS_THREAD_TIMEOUT"
OPENBLAS_TIMEOUT = "4"


def prepare(settings: Settings) -> None:
    """Call before numpy, polars and pandas are imported; later it changes nothing."""
    if "polars" not in sys.modules:  # jemalloc reads its configuration once, at start
        os.environ.setdefault(JEMALLOC_CONF_ENV, JEMALLOC_CONF)
    if "numpy" not in sys.modules:  # as does OpenBLAS, when numpy loads it
        os.environ.setdefault(OPENBLAS_TIMEOUT_ENV, OPENBLAS_TIMEOUT)
    if not pyarrow_needed(settings) and PYARROW not in sys.modules and "pandas" not in sys.modules:
        sys.modules[PYARROW] = None  # type: ignore[assignment]  # import pyarrow → ImportError


def pyarrow_needed(settings: Settings) -> bool:
    """False only when every model of this task's share declares it does without pyarrow.
    A registry or model selection the run will refuse counts as needing it: the run itself
    reports the error."""
    try:
        registry = load_registry(settings.models_file)
        share = task_share(select_models(registry, settings.model_ids), settings)
    except (RegistryError, ConfigError):
        return True
    predictors = {entry.predictor for entry in share}
    return any(declaration(name, PYARROW_DECLARATION) is not False for name in predictors)
