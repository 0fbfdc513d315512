"""``python -m job``: settings → logging → run. Returns the exit code (0, 1 or 2).

Heavy imports (numerapi, polars, catboost) happen in ``job.runner`` only, so ``--help``
and configuration errors answer at once.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from common.contract import EXIT_CONFIG
from common.retry import RetryPolicy
from job.settings import ConfigError, load_settings

if TYPE_CHECKING:
    from job.model_run import PredictorFactory


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    retry: RetryPolicy | None = None,
    load_predictor: PredictorFactory | None = None,
    own_process: bool = False,
) -> int:
    """``load_predictor`` replaces the plugin loader (tests inject misbehaving predictors).
    ``own_process`` (``python -m job``): the process is the job's alone, so process-wide
    memory settings (job.footprint) are made before the heavy libraries load."""
    environ = os.environ if environ is None else environ
    try:
        settings = load_settings(argv, environ)
    except ConfigError as exc:
        # Logging is not configured yet (LOG_FORMAT itself may be the bad value).
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from job import logs

    logs.configure(settings.log_format)
    if own_process:
        from job import footprint

        footprint.prepare(settings)
    with _collector_paused():
        from job.runner import run

    return run(settings, environ, retry=retry or RetryPolicy(), load_predictor=load_predictor)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Importing numerapi, pandas and polars creates ~100,000 objects and no garbage; the
    cyclic collector's passes over them cost ~85 ms of CPU (12% of the imports, measured).
    So it is paused for the first import of ``job.runner``, then everything that import
    made is frozen (never scanned again: it lives as long as the process) and collection
    resumes for the models, whose own garbage it still collects."""
    if "job.runner" in sys.modules or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
