"""The job's settings: built once from the environment and the command line, validated.

Flags win over environment variables. Every error names the variable or flag at fault.
Credentials are not settings: they are resolved later (job/credentials.py) and only when
something will be uploaded.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from common import contract, jsonlog
from common.contract import (
    ALL_MODELS,
    IF_SUBMITTED_CHOICES,
    IF_SUBMITTED_RESUBMIT,
    ROUND_CURRENT,
    ROUND_TEST,
)
from common.registry import registry_path
from numerai_data import (
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    DEFAULT_DOWNLOAD_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT,
    DOWNLOAD_TIMEOUT_ENV,
    REQUEST_TIMEOUT_ENV,
)

# Secret Manager secret names (not values) to read the keys from, when overridden.
PUBLIC_ID_SECRET_ENV = "NUMERAI_PUBLIC_ID_SECRET"  # noqa: S105 - a variable name
SECRET_KEY_SECRET_ENV = "NUMERAI_SECRET_KEY_SECRET"  # noqa: S105 - a variable name
# How many models of a task may predict at the same time (job.parallel); unset: one per CPU.
PARALLEL_MODELS_ENV = "NUMERAI_PARALLEL_MODELS"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class ConfigError(Exception):
    """Bad configuration or input: exit code 2. The message names the variable/flag."""


@dataclass(frozen=True)
class Settings:
    model_ids: tuple[str, ...] | None  # normalised UUIDs; None means every registered model
    round: int | str  # a round number, ROUND_CURRENT or ROUND_TEST
    trigger_id: str | None
    is_test: bool
    dry_run: bool
    output: Path | None
    data_dir: Path
    models_file: Path
    api_url: str | None
    request_timeout: float
    download_timeout: float
    task_index: int
    task_count: int
    task_attempt: int  # 0 for the first run of a task; Cloud Run's retries count up
    execution: str | None
    log_format: str
    project: str | None
    public_id_secret: str
    secret_key_secret: str
    secret_manager_endpoint: str | None
    if_submitted: str = IF_SUBMITTED_RESUBMIT  # one of IF_SUBMITTED_CHOICES
    parallel_models: int | None = None  # None: one per CPU


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m job",
        description="Download Numerai live data, predict with each requested model's "
        "predictor, validate and submit. Flags override the environment variables.",
    )
    parser.add_argument(
        "--model-id",
        action="append",
        metavar="ID",
        help=f"Numerai model id, a comma list, or 'all' (repeatable; env {contract.MODEL_ID_ENV})",
    )
    parser.add_argument(
        "--round", help=f"round number, 'test' or 'current' (env {contract.ROUND_ENV})"
    )
    parser.add_argument("--trigger-id", help=f"Numerai trigger id (env {contract.TRIGGER_ID_ENV})")
    parser.add_argument(
        "--data-dir", help=f"dataset cache (env {DATA_DIR_ENV}, default {DEFAULT_DATA_DIR})"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="everything but the upload (env NUMERAI_DRY_RUN=1)"
    )
    parser.add_argument(
        "--output",
        metavar="PATH",
        help="dry run: CSV file for one model, directory of <model_name>.csv for several",
    )
    return parser


def load_settings(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Settings:
    """Parse flags (argparse exits 2 on unknown flags) and the environment."""
    args = build_parser().parse_args(argv)
    env = {k: v.strip() for k, v in environ.items()}

    dry_run = args.dry_run or _flag(env, "NUMERAI_DRY_RUN")
    output = Path(args.output) if args.output else None
    if output is not None and not dry_run:
        raise ConfigError("--output is only used with --dry-run (or NUMERAI_DRY_RUN=1)")

    task_count = _int(env, "CLOUD_RUN_TASK_COUNT", default=1, minimum=1)
    task_attempt = _int(env, "CLOUD_RUN_TASK_ATTEMPT", default=0, minimum=0)
    task_index = _int(env, "CLOUD_RUN_TASK_INDEX", default=0, minimum=0)
    if task_index >= task_count:
        raise ConfigError(
            f"CLOUD_RUN_TASK_INDEX={task_index} must be below CLOUD_RUN_TASK_COUNT={task_count}"
        )
    try:
        log_format = jsonlog.choose_format(env.get(jsonlog.LOG_FORMAT_ENV), sys.stdout)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None

    return Settings(
        model_ids=_model_ids(args.model_id, env.get(contract.MODEL_ID_ENV, "")),
        round=_round(args.round if args.round is not None else env.get(contract.ROUND_ENV, "")),
        trigger_id=(args.trigger_id or env.get(contract.TRIGGER_ID_ENV) or None),
        is_test=_flag(env, contract.IS_TEST_ENV),
        dry_run=dry_run,
        output=output,
        data_dir=Path(args.data_dir or env.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR),
        models_file=registry_path(env),
        api_url=env.get(contract.API_URL_ENV) or None,
        request_timeout=_positive_float(env, REQUEST_TIMEOUT_ENV, DEFAULT_REQUEST_TIMEOUT),
        download_timeout=_positive_float(env, DOWNLOAD_TIMEOUT_ENV, DEFAULT_DOWNLOAD_TIMEOUT),
        task_index=task_index,
        task_count=task_count,
        task_attempt=task_attempt,
        execution=env.get("CLOUD_RUN_EXECUTION") or None,
        log_format=log_format,
        project=env.get(contract.PROJECT_ENV) or None,
        public_id_secret=env.get(PUBLIC_ID_SECRET_ENV) or contract.PUBLIC_ID_SECRET,
        secret_key_secret=env.get(SECRET_KEY_SECRET_ENV) or contract.SECRET_KEY_SECRET,
        secret_manager_endpoint=env.get("SECRET_MANAGER_API_ENDPOINT") or None,
        if_submitted=_choice(env, contract.IF_SUBMITTED_ENV, IF_SUBMITTED_CHOICES),
        parallel_models=_int(env, PARALLEL_MODELS_ENV, default=0, minimum=1) or None,
    )


def _model_ids(flags: list[str] | None, env_value: str) -> tuple[str, ...] | None:
    source = "--model-id" if flags else contract.MODEL_ID_ENV
    raw = [part.strip() for item in (flags or [env_value]) for part in item.split(",")]
    raw = [part for part in raw if part]
    if not raw:
        raise ConfigError(
            f"no model requested: set {contract.MODEL_ID_ENV} (an id, a comma list, or "
            f"'{ALL_MODELS}') or pass --model-id"
        )
    if any(part.lower() == ALL_MODELS for part in raw):
        if len(raw) > 1:
            raise ConfigError(f"{source}: 'all' cannot be combined with model ids")
        return None
    ids: dict[str, None] = {}
    for part in raw:
        try:
            ids[str(uuid.UUID(part))] = None
        except ValueError:
            raise ConfigError(f"{source}: {part!r} is not a Numerai model id (a UUID)") from None
    return tuple(ids)


def _round(value: str) -> int | str:
    value = value.strip().lower()
    if value in ("", ROUND_CURRENT):
        return ROUND_CURRENT
    if value == ROUND_TEST:
        return ROUND_TEST
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise ConfigError(
        f"{contract.ROUND_ENV} / --round: {value!r} is not a round number, "
        f"'{ROUND_TEST}' or '{ROUND_CURRENT}'"
    )


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true/1 or false/0 (got {value!r})")


def _choice(env: Mapping[str, str], name: str, choices: Sequence[str]) -> str:
    """One of ``choices`` (case-insensitive); unset or empty means the first."""
    value = env.get(name, "").lower()
    if not value:
        return choices[0]
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)} (got {value!r})")
    return value


def _int(env: Mapping[str, str], name: str, *, default: int, minimum: int) -> int:
    value = env.get(name, "")
    if not value:
        return default
    if not value.isdigit() or int(value) < minimum:
        raise ConfigError(f"{name} must be an integer ≥ {minimum} (got {value!r})")
    return int(value)


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name, "")
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number > 0 or number == float("inf"):
        raise ConfigError(f"{name} must be a positive number of seconds (got {value!r})")
    return number
