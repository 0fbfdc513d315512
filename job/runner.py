"""One execution: choose this task's models, resolve the round, then per model
predictor → data → load → predict → validate → upload (or write, in a dry run).

A model's failure is logged with its reason and the others still run; the exit code
says whether every model made it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.registry import ModelEntry, Registry, RegistryError, load_registry
from job import credentials
from job.datasets import DatasetCache, read_json
from job.live import ID_COLUMN, LiveDataError, LiveLoader
from job.logs import LabelledLogger
from job.numerai_client import NumeraiClient, NumeraiError
from job.retry import RetriesExhausted, RetryPolicy
from job.settings import IF_SUBMITTED_SKIP, ROUND_CURRENT, ROUND_TEST, ConfigError, Settings
from job.submission import submit
from job.validation import InvalidPredictions, to_csv, validate
from predictors.loader import PredictorError
from predictors.loader import load_predictor as load_plugin
from predictors.protocol import Predictor

if TYPE_CHECKING:
    import numpy as np

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

FEATURES_FILE = "features.json"
LIVE_FILE = "live.parquet"
# Stage durations are logged to the millisecond; finer is noise.
DURATION_DECIMALS = 3
# Failures whose message already says what went wrong; anything else is shown with its type.
_EXPLAINED = (
    PredictorError,
    LiveDataError,
    InvalidPredictions,
    NumeraiError,
    RetriesExhausted,
    ConfigError,
)

log = logging.getLogger("job")
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

    def dataset(self, filename: str) -> Path:
        return self.cache.path(self.data_version, filename, self.round, logger=self.logger)

    def feature_blocks(self, columns: Sequence[str], rows: int) -> Iterator[np.ndarray]:
        # The loader holds the frame this model was handed; the matrix is shared with
        # every later model asking for the same columns.
        return self.live.matrix(columns).blocks(rows)


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
    live_loader: LiveLoader = field(default_factory=LiveLoader)
    # _prediction_key → (validated CSV, rows, name of the model that computed it)
    predicted: dict[str, tuple[bytes, int, str]] = field(default_factory=dict)


@dataclass
class Stopwatch:
    durations: dict[str, float] = field(default_factory=dict)
    current: str = ""

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.current = name
        start = time.perf_counter()
        try:
            yield
        finally:
            self.durations[name] = round(time.perf_counter() - start, DURATION_DECIMALS)


def run(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    retry: RetryPolicy,
    load_predictor: PredictorFactory | None = None,
) -> int:
    try:
        registry = load_registry(settings.models_file)
        requested = select_models(registry, settings.model_ids)
    except (RegistryError, ConfigError) as exc:
        return _config_error(exc)
    share = requested[settings.task_index :: settings.task_count]
    if not share:
        log.info(
            "task %d of %d has no model to run (%d requested); nothing to do",
            settings.task_index,
            settings.task_count,
            len(requested),
        )
        return EXIT_OK

    try:
        keys = None if settings.dry_run else credentials.resolve(settings, environ, retry=retry)
    except ConfigError as exc:
        return _config_error(exc)
    except RetriesExhausted as exc:
        log.error(
            f"cannot read Numerai credentials ({credentials.PUBLIC_ID_ENV} and "
            f"{credentials.SECRET_KEY_ENV} are unset): {exc}"
        )
        return EXIT_FAILED
    client = NumeraiClient(
        keys.public_id if keys else None,
        keys.secret_key if keys else None,
        api_url=settings.api_url,
        timeout=settings.request_timeout,
    )

    base = LabelledLogger(log, _base_labels(settings))
    try:
        round_num = resolve_round(client, settings, retry)
        outputs = plan_outputs(settings, requested, share, round_num)
    except ConfigError as exc:
        return _config_error(exc)
    except (RetriesExhausted, NumeraiError) as exc:
        for entry in share:
            _model_logger(base, entry, "").error(
                f"model {entry.name} ({entry.id}) failed: cannot resolve the round: {exc}",
                extra={
                    "fields": {"event": "failed", "reason": f"round: {exc}", "submission_id": None}
                },
            )
        return EXIT_FAILED

    is_test = settings.is_test or settings.round == ROUND_TEST
    base = base.with_labels(round=str(round_num))
    base.info(
        "round %d: %d model(s) in this task%s",
        round_num,
        len(share),
        " (dry run)" if settings.dry_run else "",
        extra={
            "fields": {"round": round_num, "is_test": is_test, "models": [e.name for e in share]}
        },
    )
    execution = Execution(
        settings=settings,
        round=round_num,
        is_test=is_test,
        client=client,
        cache=DatasetCache(client, settings.data_dir, retry),
        retry=retry,
        load_predictor=load_predictor or load_plugin,
    )
    ok = [
        run_model(entry, execution, outputs.get(entry.id), _model_logger(base, entry, round_num))
        for entry in share
    ]
    return EXIT_OK if all(ok) else EXIT_FAILED


def select_models(registry: Registry, model_ids: Sequence[str] | None) -> list[ModelEntry]:
    if model_ids is None:
        return list(registry.models)
    selected = []
    for model_id in model_ids:
        entry = registry.by_id(model_id)
        if entry is None:
            raise ConfigError(f"model {model_id} is not registered in {registry.path}")
        selected.append(entry)
    return selected


def resolve_round(client: NumeraiClient, settings: Settings, retry: RetryPolicy) -> int:
    """``current``/``test`` → the open round. A round number must be the open round,
    because Numerai accepts submissions only there; a dry run may use any round's data."""
    if isinstance(settings.round, int) and settings.dry_run:
        return settings.round
    current = retry.call(client.get_current_round, what="get_current_round")
    if not isinstance(current, int):
        raise NumeraiError("Numerai reports no open round")
    if settings.round in (ROUND_CURRENT, ROUND_TEST) or settings.round == current:
        return current
    raise ConfigError(
        f"NUMERAI_ROUND={settings.round} is not the open round ({current}); Numerai accepts "
        f"submissions only for the open round (a dry run may predict on round "
        f"{settings.round}'s data)"
    )


def plan_outputs(
    settings: Settings, requested: Sequence[ModelEntry], share: Sequence[ModelEntry], round_num: int
) -> dict[str, Path]:
    """Dry run: where each model's CSV goes. One requested model with ``--output`` → that
    file; otherwise a directory of ``<model_name>.csv`` (default under the data dir)."""
    if not settings.dry_run:
        return {}
    target = settings.output
    if target is not None and len(requested) == 1 and not target.is_dir():
        folder, files = target.parent, {share[0].id: target}
    else:
        folder = target if target is not None else settings.data_dir / "dry-run" / str(round_num)
        files = {entry.id: folder / f"{entry.name}.csv" for entry in share}
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--output {target}: cannot create directory {folder} ({exc.strerror})"
        ) from None
    return files


def run_model(
    entry: ModelEntry, ex: Execution, output: Path | None, logger: LabelledLogger
) -> bool:
    watch = Stopwatch()
    rows: int | None = None
    try:
        if _skips_if_submitted(ex) and _already_submitted(entry, ex, watch, logger):
            return True
        key = _prediction_key(entry)
        if key in ex.predicted:
            csv, rows, first = ex.predicted[key]
            logger.info(f"same predictor and options as model {first}: reusing its predictions")
        else:
            with watch.stage("predictor"):
                predictor = ex.load_predictor(entry.predictor, entry.options)
                context = RoundContext(
                    ex.round, predictor.data_version, ex.cache, logger, ex.live_loader
                )
            with watch.stage("data"):
                features = read_json(context.dataset(FEATURES_FILE))
                live_path = context.dataset(LIVE_FILE)
            with watch.stage("columns"):
                columns = predictor.columns(features)
            with watch.stage("load"):
                live = ex.live_loader.load(live_path, columns)
                rows = live.height
            with watch.stage("predict"):
                predictions = predictor.predict(live, context)
            with watch.stage("validate"):
                csv = to_csv(validate(live[ID_COLUMN], predictions))
            ex.predicted[key] = (csv, rows, entry.name)
        if output is not None:
            with watch.stage("write"):
                output.write_bytes(csv)
            submission_id = None
        else:
            with watch.stage("upload"):
                submission_id = submit(
                    ex.client,
                    csv,
                    model_id=entry.id,
                    trigger_id=ex.settings.trigger_id,
                    retry=ex.retry,
                    logger=logger,
                )
    except Exception as exc:  # a plugin may raise anything; this model fails, the others run
        reason = _reason(entry, watch.current, exc)
        logger.error(
            f"model {entry.name} ({entry.id}) failed: {reason}",
            exc_info=not isinstance(exc, _EXPLAINED),
            extra={
                "fields": {
                    "event": "failed",
                    "reason": reason,
                    "submission_id": None,
                    "rows": rows,
                    "round": ex.round,
                    "is_test": ex.is_test,
                    "durations": watch.durations,
                }
            },
        )
        return False
    fields = {
        "submission_id": submission_id,
        "rows": rows,
        "round": ex.round,
        "is_test": ex.is_test,
        "durations": watch.durations,
    }
    if output is not None:
        logger.info(
            f"model {entry.name} ({entry.id}): dry run, {rows} predictions written to {output}",
            extra={"fields": {"event": "dry_run", "output": str(output), **fields}},
        )
    else:
        logger.info(
            f"model {entry.name} ({entry.id}) submitted {rows} predictions to round "
            f"{ex.round}: submission {submission_id}",
            extra={"fields": {"event": "submitted", **fields}},
        )
    return True


def _skips_if_submitted(ex: Execution) -> bool:
    """NUMERAI_IF_SUBMITTED=skip applies to real submissions only: a dry run uploads
    nothing, and a test run (Numerai's test button) must always produce a submission."""
    return (
        ex.settings.if_submitted == IF_SUBMITTED_SKIP and not ex.settings.dry_run and not ex.is_test
    )


def _already_submitted(
    entry: ModelEntry, ex: Execution, watch: Stopwatch, logger: LabelledLogger
) -> bool:
    """Ask Numerai whether the model has a submission for the round; if so, log the
    model's summary line (``"event": "skipped"``). Failures propagate: the model fails
    rather than being submitted or skipped on a guess."""
    with watch.stage("check"):
        existing = ex.retry.call(
            lambda: ex.client.round_submission_filenames(entry.id, ex.round),
            what="submission check",
            logger=logger,
        )
    if not existing:
        return False
    reason = f"already submitted for round {ex.round}"
    logger.info(
        f"model {entry.name} ({entry.id}) skipped: {reason} (NUMERAI_IF_SUBMITTED=skip)",
        extra={
            "fields": {
                "event": "skipped",
                "reason": reason,
                "submission_id": None,
                "rows": None,
                "round": ex.round,
                "is_test": ex.is_test,
                "durations": watch.durations,
            }
        },
    )
    return True


def _prediction_key(entry: ModelEntry) -> str:
    """Entries with the same predictor and options are the same model on the same data."""
    return json.dumps([entry.predictor, dict(entry.options)], sort_keys=True, default=str)


def _reason(entry: ModelEntry, stage: str, exc: Exception) -> str:
    if isinstance(exc, _EXPLAINED):
        return f"{stage}: {exc}"
    if stage in ("columns", "predict"):  # the plugin's own code
        return f"{stage}: predictor {entry.predictor!r} raised {type(exc).__name__}: {exc}"
    return f"{stage}: {type(exc).__name__}: {exc}"


def _base_labels(settings: Settings) -> dict[str, str]:
    labels = {"trigger_id": settings.trigger_id or ""}
    if settings.execution:
        labels["execution"] = settings.execution
    if settings.execution or settings.task_count > 1:
        labels["task_index"] = str(settings.task_index)
    return labels


def _model_logger(base: LabelledLogger, entry: ModelEntry, round_num: int | str) -> LabelledLogger:
    return base.with_labels(model_id=entry.id, model_name=entry.name, round=str(round_num))


def _config_error(exc: Exception) -> int:
    log.error(str(exc), extra={"fields": {"event": "config_error"}})
    return EXIT_CONFIG
