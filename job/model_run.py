"""One model of an execution: predictor → data → load → predict → validate → upload.

``run_model`` never raises: whatever goes wrong (a plugin may raise anything) becomes a
``failed`` result with its reason, and the other models of the execution still run.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from common.contract import (
    EVENT_DRY_RUN,
    EVENT_SKIPPED,
    EVENT_SUBMITTED,
    IF_SUBMITTED_ENV,
    IF_SUBMITTED_SKIP,
)
from common.registry import ModelEntry
from common.retry import RetriesExhausted, RetryPolicy
from job.live import ID_COLUMN, LiveDataError, LiveLoader
from job.logs import LabelledLogger
from job.results import ModelResult, Progress
from job.settings import ConfigError, Settings
from job.submission import submit
from job.validation import InvalidPredictions, to_csv, validate
from numerai_data.cache import DatasetCache, read_json
from numerai_data.client import NumeraiClient, NumeraiError
from predictors.protocol import Predictor, PredictorError

if TYPE_CHECKING:
    import numpy as np

T = TypeVar("T")
FEATURES_FILE = "features.json"
LIVE_FILE = "live.parquet"
# Failures whose message already says what went wrong; anything else is shown with its
# type, and logged with its traceback.
_EXPLAINED = (
    PredictorError,
    LiveDataError,
    InvalidPredictions,
    NumeraiError,
    RetriesExhausted,
    ConfigError,
)

# (predictor name, registry options) → Predictor; tests inject misbehaving ones.
PredictorFactory = Callable[[str, Mapping[str, Any]], Predictor]


@dataclass(frozen=True)
class RoundContext:
    """What a predictor may ask the job for (predictors.protocol.PredictContext)."""

    round: int
    data_version: str
    cache: DatasetCache
    logger: LabelledLogger
    live: LiveLoader
    threads: int = 1  # CPU threads this model may use while it predicts
    live_path: Path | None = None  # the live file this model's frame came from
    others_to_come: bool = False  # models of the task that have not begun yet

    def dataset(self, filename: str) -> Path:
        return self.cache.path(self.data_version, filename, self.round, logger=self.logger)

    def feature_blocks(
        self, columns: Sequence[str], rows: int, prepare: Callable[[np.ndarray], T] | None = None
    ) -> Iterator[np.ndarray] | Iterator[T]:
        # The matrix (and what is prepared from it) is shared with every other model
        # asking for the same columns.
        if self.live_path is None:
            raise LiveDataError("no live data loaded yet")
        matrix = self.live.matrix(self.live_path, columns)
        if prepare is None:
            return matrix.blocks(rows)
        return matrix.prepared(rows, prepare, keep=self.others_to_come)


@dataclass
class Execution:
    """What the models of one execution share: round, clients, caches, predictions."""

    settings: Settings
    round: int
    is_test: bool
    client: NumeraiClient
    cache: DatasetCache
    retry: RetryPolicy
    load_predictor: PredictorFactory
    threads: int = 1  # CPU threads per model (job.parallel)
    live_loader: LiveLoader = field(default_factory=LiveLoader)
    # _prediction_key → (validated CSV, rows, name of the model that computed it)
    predicted: dict[str, tuple[bytes, int, str]] = field(default_factory=dict)
    # Models of the task that have not begun predicting (shared blocks are kept for them).
    waiting: int = 0
    # One lock per _prediction_key: of two models running at once with the same key,
    # the second waits for the first's predictions instead of computing them again.
    _key_locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def key_lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._key_locks.setdefault(key, threading.Lock())

    def begin(self) -> bool:
        """A model begins; True while others of the task have not yet."""
        with self._guard:
            self.waiting = max(0, self.waiting - 1)
            return self.waiting > 0


def run_model(
    entry: ModelEntry, ex: Execution, output: Path | None, logger: LabelledLogger
) -> ModelResult:
    progress = Progress()
    try:
        why_check = _why_check_submitted(ex)
        if why_check and _already_submitted(entry, ex, progress, logger):
            return ModelResult(
                EVENT_SKIPPED,
                reason=f"already submitted for round {ex.round}",
                durations=progress.durations,
                note=why_check,
            )
        csv = _predictions(entry, ex, progress, logger)
        rows = progress.rows
        if output is not None:
            with progress.stage("write"):
                output.write_bytes(csv)
            return ModelResult(
                EVENT_DRY_RUN, rows=rows, output=output, durations=progress.durations
            )
        with progress.stage("upload"):
            submission_id = submit(
                ex.client,
                csv,
                model_id=entry.id,
                trigger_id=ex.settings.trigger_id,
                retry=ex.retry,
                logger=logger,
            )
        return ModelResult(
            EVENT_SUBMITTED, submission_id=submission_id, rows=rows, durations=progress.durations
        )
    except Exception as exc:  # a plugin may raise anything; this model fails, the others run
        explained = isinstance(exc, _EXPLAINED)
        reason = _reason(entry, progress.current, exc)
        return ModelResult.failed(reason, progress, error=None if explained else exc)


def _predictions(
    entry: ModelEntry, ex: Execution, progress: Progress, logger: LabelledLogger
) -> bytes:
    """The validated CSV (its rows counted in ``progress``): computed, or reused from an
    earlier model of this execution with the same predictor and options."""
    key = _prediction_key(entry)
    with ex.key_lock(key):
        if key in ex.predicted:
            csv, progress.rows, first = ex.predicted[key]
            logger.info(f"same predictor and options as model {first}: reusing its predictions")
            return csv
        csv = _predict(entry, ex, progress, logger)
        ex.predicted[key] = (csv, progress.rows or 0, entry.name)
        return csv


def _predict(entry: ModelEntry, ex: Execution, progress: Progress, logger: LabelledLogger) -> bytes:
    with progress.stage("predictor"):
        predictor = ex.load_predictor(entry.predictor, entry.options)
        context = RoundContext(
            ex.round,
            predictor.data_version,
            ex.cache,
            logger,
            ex.live_loader,
            ex.threads,
            others_to_come=ex.begin(),
        )
    with progress.stage("data"):
        features = read_json(context.dataset(FEATURES_FILE))
        live_path = context.dataset(LIVE_FILE)
        context = replace(context, live_path=live_path)
    with progress.stage("columns"):
        columns = predictor.columns(features)
    with progress.stage("load"):
        live = ex.live_loader.load(live_path, columns)
        progress.rows = live.height
    with progress.stage("predict"):
        predictions = predictor.predict(live, context)
    with progress.stage("validate"):
        return to_csv(validate(live[ID_COLUMN], predictions))


def _why_check_submitted(ex: Execution) -> str | None:
    """Why a model that already has a submission for the round is skipped, or None when
    it is submitted regardless.

    NUMERAI_IF_SUBMITTED=skip asks for it. A retried task (CLOUD_RUN_TASK_ATTEMPT ≥ 1:
    Cloud Run runs a failed task again in full) gets it too, so that the retry redoes only
    the models that failed and does not resubmit the ones that made it. Neither applies to
    a dry run (it uploads nothing) or a test run (Numerai's test button must always
    produce a submission)."""
    if ex.settings.dry_run or ex.is_test:
        return None
    if ex.settings.if_submitted == IF_SUBMITTED_SKIP:
        return f"{IF_SUBMITTED_ENV}={IF_SUBMITTED_SKIP}"
    if ex.settings.task_attempt > 0:
        return f"retry {ex.settings.task_attempt} of a task: only what failed is redone"
    return None


def _already_submitted(
    entry: ModelEntry, ex: Execution, progress: Progress, logger: LabelledLogger
) -> bool:
    """Ask Numerai whether the model has a submission for the round. Failures propagate:
    the model fails rather than being submitted or skipped on a guess."""
    with progress.stage("check"):
        existing = ex.retry.call(
            lambda: ex.client.round_submission_filenames(entry.id, ex.round),
            what="submission check",
            logger=logger,
        )
    return bool(existing)


def _prediction_key(entry: ModelEntry) -> str:
    """Entries with the same predictor and options are the same model on the same data."""
    return json.dumps([entry.predictor, dict(entry.options)], sort_keys=True, default=str)


def _reason(entry: ModelEntry, stage: str, exc: Exception) -> str:
    if isinstance(exc, _EXPLAINED):
        return f"{stage}: {exc}"
    if stage in ("columns", "predict"):  # the plugin's own code
        return f"{stage}: predictor {entry.predictor!r} raised {type(exc).__name__}: {exc}"
    return f"{stage}: {type(exc).__name__}: {exc}"
