"""The join: one model's submission, summary lines and runs → its row of the report.

Pure functions over what ``sources`` read (no gcloud, no Numerai), so every state and
every way of telling "how" is tested directly. The rules are the package docstring's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from common.contract import EVENT_DRY_RUN, EVENT_FAILED, EVENT_SKIPPED, EVENT_SUBMITTED
from common.registry import ModelEntry
from ops.report.rounds import Round
from ops.report.sources import Run, Summary
from ops.smoke.webhook import SMOKE_TRIGGER_PREFIX
from ops.submissions import Submission

SUBMITTED, FAILED, SKIPPED, RUNNING, MISSING = (
    "submitted",
    "failed",
    "skipped",
    "running",
    "missing",
)
STATES = (SUBMITTED, FAILED, SKIPPED, RUNNING, MISSING)
UNKNOWN = "unknown"
_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Identities:
    """The service accounts whose executions are webhooks and schedules."""

    dispatcher: str
    scheduler: str


@dataclass(frozen=True)
class Row:
    model: ModelEntry
    state: str  # one of STATES
    when: dt.datetime | None = None
    submission_id: str | None = None
    trigger_id: str | None = None
    how: str | None = None
    execution: str | None = None
    detail: str = ""  # the reason (failed, skipped), or what is known (running, missing)


def how(run: Run | None, trigger: str | None, ids: Identities) -> str:
    """Who started the run: webhook, schedule, smoke, rerun (<account>) or unknown."""
    if trigger and trigger.startswith(SMOKE_TRIGGER_PREFIX):
        return "smoke"
    if run is None or not run.creator:
        return UNKNOWN
    if run.creator == ids.dispatcher:
        return "webhook"
    if run.creator == ids.scheduler:
        return "schedule"
    return f"rerun ({run.creator})"


def _run_named(runs: Sequence[Run], name: str | None) -> Run | None:
    return next((r for r in runs if name and r.name == name), None)


def _submitted(
    model: ModelEntry,
    sub: Submission,
    summaries: Sequence[Summary],
    runs: Sequence[Run],
    ids: Identities,
) -> Row:
    line = next(
        (x for x in summaries if x.event == EVENT_SUBMITTED and x.submission_id == sub.id), None
    )
    trigger = sub.trigger_id or (line.trigger_id if line else None)
    run = _run_named(runs, line.execution if line else None)
    if run is None and trigger:
        run = next((r for r in runs if r.trigger_id == trigger), None)
    execution = run.name if run else (line.execution if line else None)
    detail = f"submission {sub.id}"
    if line is None and run is None:
        detail += " (no run of this deployment made it, or it is older than the logs)"
    return Row(
        model,
        SUBMITTED,
        when=sub.inserted_at,
        submission_id=sub.id,
        trigger_id=trigger,
        how=how(run, trigger, ids),
        execution=execution,
        detail=detail,
    )


def _from_summary(model: ModelEntry, line: Summary, runs: Sequence[Run], ids: Identities) -> Row:
    run = _run_named(runs, line.execution)
    common = {
        "when": line.at,
        "trigger_id": line.trigger_id,
        "how": how(run, line.trigger_id, ids),
        "execution": line.execution,
    }
    if line.event == EVENT_FAILED:
        return Row(model, FAILED, detail=line.reason or "failed (no reason logged)", **common)
    if line.event == EVENT_SKIPPED:
        return Row(model, SKIPPED, detail=line.reason or "skipped", **common)
    if line.event == EVENT_DRY_RUN:
        return Row(model, SKIPPED, detail="dry run: predictions written, not uploaded", **common)
    # The job logged a submission Numerai does not list for this round.
    return Row(
        model,
        MISSING,
        detail=f"the job logged submission {line.submission_id}, but Numerai does not list "
        "it for this round",
        **common,
    )


def _from_run(model: ModelEntry, run: Run, ids: Identities) -> Row:
    common = {
        "when": run.created,
        "trigger_id": run.trigger_id or None,
        "how": how(run, run.trigger_id, ids),
        "execution": run.name,
    }
    if not run.finished:
        return Row(model, RUNNING, detail=f"execution {run.name} is {run.state}", **common)
    message = f": {run.message}" if run.message else ""
    return Row(
        model,
        FAILED,
        detail=f"execution {run.name} {run.state} without a summary line{message}",
        **common,
    )


def row(
    model: ModelEntry,
    rnd: Round,
    sub: Submission | None,
    summaries: Sequence[Summary],
    runs: Sequence[Run],
    ids: Identities,
) -> Row:
    """``summaries`` and ``runs`` may hold other models' too; only this model's count."""
    mine = [x for x in summaries if x.model_id == model.id.lower()]
    my_runs = [r for r in runs if r.covers(model.id)]
    if sub is not None:
        return _submitted(model, sub, mine, my_runs, ids)
    latest = max(mine, key=lambda x: x.at, default=None)
    logged = {x.execution for x in mine if x.execution}
    # Runs that say more than the summary lines: still going, or ended without one.
    telling = [
        r
        for r in my_runs
        if r.created is not None
        and (latest is None or r.created > latest.at)
        and (not r.finished or (r.state != "succeeded" and r.name not in logged))
    ]
    newest_run = max(telling, key=lambda r: r.created or _EPOCH, default=None)
    if newest_run is not None:
        return _from_run(model, newest_run, ids)
    if latest is not None:
        return _from_summary(model, latest, my_runs, ids)
    since = f" since it opened {rnd.opened:%Y-%m-%d %H:%M} UTC" if rnd.opened else ""
    return Row(
        model,
        MISSING,
        detail=f"no submission on Numerai and no run of it for round {rnd.number}{since}",
    )
