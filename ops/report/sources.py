"""What the deployment recorded about a round, read through gcloud: the job's summary
lines (Cloud Logging) and the executions of the models' jobs (Cloud Run).

Both are read-only; in a dry run the commands are printed and the answers are empty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from common.contract import (
    ALL_MODELS,
    FIELD_EVENT,
    FIELD_REASON,
    FIELD_SUBMISSION_ID,
    LABEL_EXECUTION,
    LABEL_MODEL_ID,
    LABEL_ROUND,
    LABEL_TRIGGER_ID,
    MODEL_ID_ENV,
    SUMMARY_EVENTS,
    TRIGGER_ID_ENV,
)
from ops import observe
from ops.gcloud import Gcloud, GcloudError
from ops.report.rounds import Round
from ops.settings import OpsSettings

# Summary lines of one round: models × runs; far more than a round ever writes.
SUMMARY_LIMIT = 2000
# Executions listed per job, newest first: a week of daily rounds with reruns.
EXECUTION_LIMIT = 100
# Where Cloud Run records who created an execution (v1; gcloud's "RUN BY" column).
CREATOR_ANNOTATION = "run.googleapis.com/creator"
# The label Cloud Run puts on every log line of an execution (the job adds "execution").
EXECUTION_NAME_LABEL = "run.googleapis.com/execution_name"


@dataclass(frozen=True)
class Summary:
    """One model's summary line (job/results.py ``log_summary``)."""

    model_id: str
    event: str  # one of SUMMARY_EVENTS
    at: dt.datetime
    reason: str | None
    submission_id: str | None
    execution: str | None
    trigger_id: str | None


@dataclass(frozen=True)
class Run:
    """One execution of a model's Cloud Run job."""

    name: str
    job: str
    state: str  # observe.execution_state: pending, running, succeeded, failed, cancelled
    created: dt.datetime | None
    creator: str
    model_ids: str  # the NUMERAI_MODEL_ID override: "all" or a comma list
    trigger_id: str
    message: str  # the Completed condition's message (why it failed)

    def covers(self, model_id: str) -> bool:
        ids = [m.strip().lower() for m in self.model_ids.split(",")]
        return ALL_MODELS in ids or model_id.lower() in ids

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed", "cancelled")


def summary_filter(rnd: Round, model_ids: list[str]) -> str:
    """The round's summary lines; a line without a round (the job could not ask Numerai
    which round is open) counts for the round it was written in."""
    since = (rnd.opened or dt.datetime.now(dt.UTC) - dt.timedelta(days=1)) - observe.CLOCK_SKEW
    events = " OR ".join(f'jsonPayload.{FIELD_EVENT}="{e}"' for e in SUMMARY_EVENTS)
    parts = [
        'resource.type="cloud_run_job"',
        f"({events})",
        f'(labels.{LABEL_ROUND}="{rnd.number}" OR labels.{LABEL_ROUND}="")',
    ]
    if model_ids:
        ids = " OR ".join(f'labels.{LABEL_MODEL_ID}="{m}"' for m in model_ids)
        parts.append(f"({ids})")
    parts.append(f'timestamp>="{observe.log_time(since)}"')
    if rnd.until is not None:
        parts.append(f'timestamp<"{observe.log_time(rnd.until + observe.CLOCK_SKEW)}"')
    return " AND ".join(parts)


def _summary(entry: Mapping[str, Any], rnd: Round) -> Summary | None:
    payload = entry.get("jsonPayload")
    labels = entry.get("labels") or {}
    at = observe.parse_time(entry.get("timestamp"))
    if not isinstance(payload, dict) or payload.get(FIELD_EVENT) not in SUMMARY_EVENTS or not at:
        return None
    if labels.get(LABEL_ROUND) not in (str(rnd.number), ""):
        return None
    return Summary(
        model_id=str(labels.get(LABEL_MODEL_ID, "")).lower(),
        event=str(payload[FIELD_EVENT]),
        at=at,
        reason=_text(payload.get(FIELD_REASON)),
        submission_id=_text(payload.get(FIELD_SUBMISSION_ID)),
        execution=_text(labels.get(LABEL_EXECUTION) or labels.get(EXECUTION_NAME_LABEL)),
        trigger_id=_text(labels.get(LABEL_TRIGGER_ID)),
    )


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def read_summaries(s: OpsSettings, g: Gcloud, rnd: Round, model_ids: list[str]) -> list[Summary]:
    args = observe.log_read_args(s, summary_filter(rnd, model_ids), SUMMARY_LIMIT)
    entries = g.read_json(args)
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise GcloudError("gcloud logging read: expected a JSON list")
    found = (_summary(e, rnd) for e in entries if isinstance(e, dict))
    return [x for x in found if x is not None]


def _completed_message(execution: Mapping[str, Any]) -> str:
    for cond in (execution.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Completed":
            return str(cond.get("message") or "")
    return ""


def _run(execution: Mapping[str, Any]) -> Run:
    meta = execution.get("metadata") or {}
    env = observe.execution_env(execution)
    return Run(
        name=str(meta.get("name", "")),
        job=str((meta.get("labels") or {}).get("run.googleapis.com/job", "")),
        state=observe.execution_state(execution),
        created=observe.parse_time(meta.get("creationTimestamp")),
        creator=str((meta.get("annotations") or {}).get(CREATOR_ANNOTATION, "")),
        model_ids=env.get(MODEL_ID_ENV, ""),
        trigger_id=env.get(TRIGGER_ID_ENV, ""),
        message=_completed_message(execution),
    )


def in_round(run: Run, rnd: Round) -> bool:
    """Created while the round was the open one (runs without a round number do the
    open round; a rerun of an older round is refused by the job)."""
    if run.created is None:
        return False
    if rnd.opened is not None and run.created < rnd.opened - observe.CLOCK_SKEW:
        return False
    return rnd.until is None or run.created < rnd.until


def read_runs(s: OpsSettings, g: Gcloud, jobs: Iterable[str], rnd: Round) -> list[Run]:
    runs: list[Run] = []
    for job in dict.fromkeys(jobs):  # each job once, in order
        listed = g.read_json(
            [
                "run",
                "jobs",
                "executions",
                "list",
                f"--job={job}",
                f"--region={s.region}",
                f"--project={s.project}",
                f"--limit={EXECUTION_LIMIT}",
            ]
        )
        if listed is None:
            continue
        if not isinstance(listed, list):
            raise GcloudError("gcloud run jobs executions list: expected a JSON list")
        runs += [r for r in (_run(x) for x in listed if isinstance(x, dict)) if in_round(r, rnd)]
    return runs
