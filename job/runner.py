"""One execution: choose this task's models, resolve the round, run each model
(job.model_run) and report each one's summary line (job.results).

A model's failure is logged with its reason and the others still run; the exit code
says whether every model made it. Bad configuration or input is exit 2, decided here
and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from common.contract import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    LABEL_EXECUTION,
    LABEL_MODEL_ID,
    LABEL_MODEL_NAME,
    LABEL_ROUND,
    LABEL_TRIGGER_ID,
    ROUND_CURRENT,
    ROUND_ENV,
    ROUND_TEST,
)
from common.registry import ModelEntry, RegistryError, load_registry
from common.retry import RetriesExhausted, RetryPolicy
from job import credentials, parallel
from job.logs import LabelledLogger
from job.model_run import Execution, PredictorFactory, run_model
from job.plugins import load_predictor as load_plugin
from job.results import ModelResult, log_summary
from job.selection import select_models, task_share
from job.settings import ConfigError, Settings
from numerai_data.cache import DatasetCache
from numerai_data.client import NumeraiClient, NumeraiError

log = logging.getLogger("job")


def run(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    retry: RetryPolicy,
    load_predictor: PredictorFactory | None = None,
) -> int:
    try:
        return _run(settings, environ, retry, load_predictor or load_plugin)
    except ConfigError as exc:
        log.error(str(exc), extra={"fields": {"event": "config_error"}})
        return EXIT_CONFIG


def _run(
    settings: Settings,
    environ: Mapping[str, str],
    retry: RetryPolicy,
    load_predictor: PredictorFactory,
) -> int:
    try:
        registry = load_registry(settings.models_file)
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None
    requested = select_models(registry, settings.model_ids)
    share = task_share(requested, settings)
    if not share:
        log.info(
            "task %d of %d has no model to run (%d requested); nothing to do",
            settings.task_index,
            settings.task_count,
            len(requested),
        )
        return EXIT_OK
    client = _client(settings, environ, retry)
    if client is None:
        return EXIT_FAILED
    base = LabelledLogger(log, _base_labels(settings))
    is_test = settings.is_test or settings.round == ROUND_TEST
    round_num = _round_or_report(client, settings, retry, base, share, is_test)
    if round_num is None:
        return EXIT_FAILED
    outputs = plan_outputs(settings, requested, share, round_num)
    base = base.with_labels(**{LABEL_ROUND: str(round_num)})
    plan = parallel.plan(share, settings.parallel_models, parallel.usable_cpus())
    _announce(base, settings, share, plan, round_num, is_test)
    execution = Execution(
        settings=settings,
        round=round_num,
        is_test=is_test,
        client=client,
        cache=DatasetCache(client, settings.data_dir, retry),
        retry=retry,
        load_predictor=load_predictor,
        threads=plan.threads,
        waiting=len(share),
    )

    def run_one(entry: ModelEntry) -> ModelResult:
        logger = _model_logger(base, entry, round_num)
        return run_model(entry, execution, outputs.get(entry.id), logger)

    ok = True
    results = parallel.run_in_order(run_one, share, plan.models_at_once)
    for entry, result in zip(share, results, strict=True):
        logger = _model_logger(base, entry, round_num)
        log_summary(logger, entry, result, round_num=round_num, is_test=is_test)
        ok = ok and result.ok
    return EXIT_OK if ok else EXIT_FAILED


def _round_or_report(
    client: NumeraiClient,
    settings: Settings,
    retry: RetryPolicy,
    base: LabelledLogger,
    share: Sequence[ModelEntry],
    is_test: bool,
) -> int | None:
    """The round to submit to; None once every model of the task has been reported
    failed with the same reason (Numerai could not say which round is open)."""
    try:
        return resolve_round(client, settings, retry)
    except (RetriesExhausted, NumeraiError) as exc:
        failed = ModelResult.failed(f"round: {exc}")
        for entry in share:
            logger = _model_logger(base, entry, "")
            log_summary(logger, entry, failed, round_num=None, is_test=is_test)
        return None


def _announce(
    base: LabelledLogger,
    settings: Settings,
    share: Sequence[ModelEntry],
    plan: parallel.Plan,
    round_num: int,
    is_test: bool,
) -> None:
    """The task's first line: the round, its models, how many predict at a time."""
    what = f"round {round_num}: {len(share)} model(s) in this task"
    if plan.models_at_once > 1:
        what += f", {plan.models_at_once} at a time"
    base.info(
        what + (" (dry run)" if settings.dry_run else ""),
        extra={
            "fields": {
                "round": round_num,
                "is_test": is_test,
                "models": [e.name for e in share],
                "cpus": plan.cpus,
                "models_at_once": plan.models_at_once,
            }
        },
    )


def _client(
    settings: Settings, environ: Mapping[str, str], retry: RetryPolicy
) -> NumeraiClient | None:
    """The Numerai client, with keys unless this is a dry run; None (after saying why)
    when Secret Manager kept failing. Missing keys raise ConfigError."""
    try:
        keys = None if settings.dry_run else credentials.resolve(settings, environ, retry=retry)
    except RetriesExhausted as exc:
        log.error(f"cannot read Numerai credentials ({credentials.BOTH} are unset): {exc}")
        return None
    return NumeraiClient(
        keys.public_id if keys else None,
        keys.secret_key if keys else None,
        api_url=settings.api_url,
        timeout=settings.request_timeout,
        download_timeout=settings.download_timeout,
    )


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
        f"{ROUND_ENV}={settings.round} is not the open round ({current}); Numerai accepts "
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


def _base_labels(settings: Settings) -> dict[str, str]:
    labels = {LABEL_TRIGGER_ID: settings.trigger_id or ""}
    if settings.execution:
        labels[LABEL_EXECUTION] = settings.execution
    if settings.execution or settings.task_count > 1:
        labels["task_index"] = str(settings.task_index)
    return labels


def _model_logger(base: LabelledLogger, entry: ModelEntry, round_num: int | str) -> LabelledLogger:
    labels = {LABEL_MODEL_ID: entry.id, LABEL_MODEL_NAME: entry.name, LABEL_ROUND: str(round_num)}
    return base.with_labels(**labels)
