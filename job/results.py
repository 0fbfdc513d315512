"""One model's outcome, and the summary line that reports it.

Every model the job is asked for ends with exactly one summary line — ``"event"``
``submitted``, ``failed``, ``skipped`` or ``dry_run`` (``common.contract``) — which
``make smoke``, ``make report``, ``make logs`` and alerting read. ``log_summary`` is the
only place that writes it, so its fields are the same whatever path the model took.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from common.contract import (
    EVENT_DRY_RUN,
    EVENT_FAILED,
    EVENT_SKIPPED,
    EVENT_SUBMITTED,
    FIELD_EVENT,
    FIELD_REASON,
    FIELD_SUBMISSION_ID,
)
from common.registry import ModelEntry

# Stage durations are logged to the millisecond; finer is noise.
DURATION_DECIMALS = 3


@dataclass
class Progress:
    """How far one model got: seconds per stage, the stage it is in (``current`` names the
    stage a failure happened in), and the live rows once they are loaded."""

    durations: dict[str, float] = field(default_factory=dict)
    current: str = ""
    rows: int | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.current = name
        start = time.perf_counter()
        try:
            yield
        finally:
            self.durations[name] = round(time.perf_counter() - start, DURATION_DECIMALS)


@dataclass(frozen=True)
class ModelResult:
    event: str  # one of common.contract.SUMMARY_EVENTS
    reason: str | None = None  # why it failed or was skipped
    submission_id: str | None = None  # submitted only
    rows: int | None = None
    output: Path | None = None  # dry run only: where the CSV went
    durations: dict[str, float] = field(default_factory=dict)
    # An unexplained failure (a plugin's own exception): logged with its traceback.
    error: BaseException | None = None
    note: str | None = None  # said in the message only, e.g. which setting made it skip

    @property
    def ok(self) -> bool:
        return self.event != EVENT_FAILED

    @classmethod
    def failed(
        cls, reason: str, progress: Progress | None = None, *, error: BaseException | None = None
    ) -> ModelResult:
        if progress is None:
            return cls(EVENT_FAILED, reason=reason, error=error)
        return cls(
            EVENT_FAILED,
            reason=reason,
            rows=progress.rows,
            durations=progress.durations,
            error=error,
        )


def log_summary(
    logger: logging.Logger | logging.LoggerAdapter,
    entry: ModelEntry,
    result: ModelResult,
    *,
    round_num: int | None,
    is_test: bool,
) -> None:
    """The model's summary line: one sentence for people, the same fields for machines."""
    who = f"model {entry.name} ({entry.id})"
    what = {
        EVENT_SUBMITTED: f"{who} submitted {result.rows} predictions to round {round_num}: "
        f"submission {result.submission_id}",
        EVENT_DRY_RUN: f"{who}: dry run, {result.rows} predictions written to {result.output}",
        EVENT_SKIPPED: f"{who} skipped: {result.reason}",
        EVENT_FAILED: f"{who} failed: {result.reason}",
    }[result.event]
    if result.note:
        what = f"{what} ({result.note})"
    fields: dict[str, object] = {
        FIELD_EVENT: result.event,
        FIELD_SUBMISSION_ID: result.submission_id,
        "rows": result.rows,
        "round": round_num,
        "is_test": is_test,
        "durations": result.durations,
    }
    if result.reason is not None:
        fields[FIELD_REASON] = result.reason
    if result.output is not None:
        fields["output"] = str(result.output)
    error = result.error
    logger.log(
        logging.INFO if result.ok else logging.ERROR,
        what,
        exc_info=(type(error), error, error.__traceback__) if error is not None else None,
        extra={"fields": fields},
    )
