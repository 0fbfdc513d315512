"""``make status``, ``make logs EXECUTION=…|MODEL=…``, ``make cancel EXECUTION=…``.

status: recent executions (gcloud's v1 Execution resources as JSON) rendered as a table
with the model and round taken from the execution's env overrides.
logs: ``gcloud logging read`` with the job-log filter (docs/reference.md), rendered one
line per entry.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from typing import IO, Any

from common.contract import LABEL_MODEL_ID, MODEL_ID_ENV, ROUND_CURRENT, ROUND_ENV
from common.registry import Registry
from ops import models
from ops.gcloud import Gcloud
from ops.settings import ConfigError, OpsSettings

DEFAULT_STATUS_LIMIT = 20
# A round's logs are a few hundred lines per model; 500 shows a whole execution.
DEFAULT_LOG_LIMIT = 500
# Cloud Logging keeps _Default logs 30 days; a week covers "what happened this round"
# without scanning a month. SINCE=30d reaches further.
DEFAULT_SINCE = "7d"
_SINCE = re.compile(r"^(\d{1,4})([mhd])$")
_SINCE_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
# Execution names: "<job>-<suffix>", a Cloud Run resource name.
_EXECUTION = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
# RFC 3339 with up to nanoseconds; datetime takes microseconds.
_FRACTION = re.compile(r"\.(\d{1,6})\d*")
_LIMIT = re.compile(r"^[1-9]\d{0,4}$")
# Clocks of this machine, Cloud Run and Numerai differ: time bounds get this slack.
CLOCK_SKEW = dt.timedelta(minutes=5)


def parse_limit(environ: Mapping[str, str], default: int) -> int:
    value = environ.get("LIMIT", "").strip()
    if not value:
        return default
    if not _LIMIT.match(value):
        raise ConfigError(f"LIMIT={value!r}: expected a whole number from 1 to 99999")
    return int(value)


def parse_execution(value: str | None, *, required: bool) -> str | None:
    value = (value or "").strip().rstrip("/")
    if not value:
        if required:
            raise ConfigError("EXECUTION is not set: pass EXECUTION=<name> (see `make status`)")
        return None
    # Accept the full resource name the dispatcher returns as execution_name.
    name = value.rsplit("/", 1)[-1]
    if not _EXECUTION.match(name):
        raise ConfigError(f"EXECUTION={value!r} is not a Cloud Run execution name")
    return name


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = _FRACTION.sub(lambda m: "." + m.group(1), value.replace("Z", "+00:00"))
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    for cond in status.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return {}


def execution_state(execution: Mapping[str, Any]) -> str:
    status = execution.get("status") or {}
    completed = _condition(status, "Completed")
    reason = str(completed.get("reason") or "")
    if status.get("cancelledCount") or reason.startswith("Cancel"):
        return "cancelled"
    if completed.get("status") == "True":
        return "succeeded"
    if completed.get("status") == "False":
        return "failed"
    if status.get("runningCount") or status.get("startTime"):
        return "running"
    return "pending"


def execution_env(execution: Mapping[str, Any]) -> dict[str, str]:
    spec = ((execution.get("spec") or {}).get("template") or {}).get("spec") or {}
    env: dict[str, str] = {}
    for container in spec.get("containers") or []:
        for var in container.get("env") or []:
            if isinstance(var, dict) and "name" in var and "value" in var:
                env[var["name"]] = str(var["value"])
    return env


def _model_label(model_ids: str, registry: Registry | None) -> str:
    if not model_ids:
        return "-"
    if model_ids.strip().lower() == models.ALL:
        return models.ALL
    names = []
    for model_id in model_ids.split(","):
        entry = registry.by_id(model_id) if registry else None
        names.append(entry.name if entry else model_id.strip())
    return ",".join(names)


def status_rows(
    executions: Iterable[Mapping[str, Any]], registry: Registry | None, now: dt.datetime
) -> list[list[str]]:
    rows = []
    for ex in executions:
        meta = ex.get("metadata") or {}
        status = ex.get("status") or {}
        env = execution_env(ex)
        started = parse_time(status.get("startTime"))
        finished = parse_time(status.get("completionTime"))
        created = parse_time(meta.get("creationTimestamp"))
        duration = "-"
        if started:
            duration = format_duration(((finished or now) - started).total_seconds())
        when = started or created
        rows.append(
            [
                str(meta.get("name", "?")),
                str((meta.get("labels") or {}).get("run.googleapis.com/job", "?")),
                _model_label(env.get(MODEL_ID_ENV, ""), registry),
                env.get(ROUND_ENV) or ROUND_CURRENT,
                execution_state(ex),
                when.strftime("%Y-%m-%d %H:%M:%S") if when else "-",
                duration,
            ]
        )
    return rows


def render_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def _registry_or_none(s: OpsSettings) -> Registry | None:
    try:
        return models.load(s.models_file)
    except ConfigError:
        # status still works without a readable registry: it shows ids, not names.
        return None


def run_status(s: OpsSettings, g: Gcloud, environ: Mapping[str, str], out: IO[str]) -> int:
    args = [
        "run",
        "jobs",
        "executions",
        "list",
        f"--region={s.region}",
        f"--project={s.project}",
        f"--limit={parse_limit(environ, DEFAULT_STATUS_LIMIT)}",
    ]
    job = environ.get("JOB", "").strip()
    if job:
        args.append(f"--job={job}")
    executions = g.read_json(args)
    if executions is None:
        return 0
    if not isinstance(executions, list):
        raise ConfigError("gcloud run jobs executions list: expected a JSON list")
    header = ["EXECUTION", "JOB", "MODEL", "ROUND", "STATE", "STARTED (UTC)", "DURATION"]
    rows = status_rows(executions, _registry_or_none(s), dt.datetime.now(dt.UTC))
    if not rows:
        print("no executions yet", file=out)
        return 0
    print(render_table(header, rows), file=out)
    return 0


def since_bound(value: str | None, now: dt.datetime) -> str:
    value = (value or "").strip() or DEFAULT_SINCE
    match = _SINCE.match(value)
    if not match:
        raise ConfigError(f"SINCE={value!r}: expected a number and m, h or d (e.g. 90m, 6h, 7d)")
    delta = dt.timedelta(**{_SINCE_UNITS[match.group(2)]: int(match.group(1))})
    return log_time(now - delta)


def log_time(moment: dt.datetime) -> str:
    """A time bound as Cloud Logging filters take it (RFC 3339, UTC, whole seconds)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def log_filter(execution: str | None, model_ids: list[str], since: str) -> str:
    parts = ['resource.type="cloud_run_job"']
    if execution:
        parts.append(f'labels."run.googleapis.com/execution_name"="{execution}"')
    if model_ids:
        terms = [f'labels.{LABEL_MODEL_ID}="{m}"' for m in model_ids]
        parts.append(terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")")
    parts.append(f'timestamp>="{since}"')
    return " AND ".join(parts)


def log_read_args(s: OpsSettings, selector: str, limit: int) -> list[str]:
    """``gcloud logging read`` of the entries the filter ``selector`` selects, oldest first."""
    return [
        "logging",
        "read",
        selector,
        f"--project={s.project}",
        "--order=asc",
        f"--limit={limit}",
    ]


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def render_entry(entry: Mapping[str, Any], registry: Registry | None) -> str:
    labels = entry.get("labels") or {}
    payload = entry.get("jsonPayload")
    model_id = labels.get(LABEL_MODEL_ID, "")
    found = registry.by_id(model_id) if registry and model_id else None
    model = found.name if found else model_id
    if isinstance(payload, dict):
        message = str(payload.get("message", ""))
        extras = [
            f"{key}={_plain(payload[key])}"
            for key in ("event", "reason", "submission_id", "rows", "durations")
            if key in payload
        ]
        if extras:
            message = f"{message} [{' '.join(extras)}]"
    else:
        message = str(entry.get("textPayload", "")).rstrip()
    parts = [str(entry.get("timestamp", "")), str(entry.get("severity", "DEFAULT")).ljust(7)]
    if model:
        parts.append(model)
    parts.append(message)
    return " ".join(parts)


def run_logs(s: OpsSettings, g: Gcloud, environ: Mapping[str, str], out: IO[str]) -> int:
    execution = parse_execution(environ.get("EXECUTION"), required=False)
    model_spec = environ.get("MODEL", "").strip()
    if not execution and not model_spec:
        raise ConfigError("pass EXECUTION=<name> (see `make status`) or MODEL=<name|id>")
    registry = _registry_or_none(s)
    model_ids: list[str] = []
    if model_spec and model_spec.lower() != models.ALL:
        model_ids = [e.id for e in models.resolve(models.load(s.models_file), model_spec)]
    now = dt.datetime.now(dt.UTC)
    raw = environ.get("FORMAT", "").strip().lower() == "json"
    selected = log_filter(execution, model_ids, since_bound(environ.get("SINCE"), now))
    entries = g.read_json(log_read_args(s, selected, parse_limit(environ, DEFAULT_LOG_LIMIT)))
    if entries is None:
        return 0
    if raw:
        print(json.dumps(entries, indent=2), file=out)
        return 0
    if not entries:
        print("no log entries (widen the window with SINCE=30d)", file=out)
        return 0
    for entry in entries:
        print(render_entry(entry, registry), file=out)
    return 0


def run_cancel(s: OpsSettings, g: Gcloud, environ: Mapping[str, str], out: IO[str]) -> int:
    execution = parse_execution(environ.get("EXECUTION"), required=True)
    assert execution is not None
    g.run(
        [
            "run",
            "jobs",
            "executions",
            "cancel",
            execution,
            f"--region={s.region}",
            f"--project={s.project}",
            # `make cancel EXECUTION=…` is the confirmation; gcloud must not prompt.
            "--quiet",
        ]
    )
    return 0
