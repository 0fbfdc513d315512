"""Smoke stage 4: Numerai lists the submission the smoke run made."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from common.redact import scrub
from common.registry import ModelEntry
from ops import observe
from ops.gcloud import HIDDEN
from ops.smoke.stage import CLOCK_SKEW, Say, SmokeFailed

# Numerai may take a moment to list a submission it has just accepted.
CONFIRM_ATTEMPTS = 3

SUBMISSIONS_WITH_TRIGGER = """
query($modelId: String) {
  submissions(modelId: $modelId) { id triggerId insertedAt round { number } }
}
"""


def _by_trigger(api: Any, model: ModelEntry, trigger: str) -> tuple[str | None, str]:
    """(proof or None, what was seen); ValueError if Numerai refuses the query."""
    raw = api.raw_query(SUBMISSIONS_WITH_TRIGGER, {"modelId": model.id}, True)
    subs = raw["data"]["submissions"] or []
    mine = [x for x in subs if x.get("triggerId") == trigger]
    if not mine:
        return None, f"none of {len(subs)} submission(s) of {model.name} carries trigger {trigger}"
    sub = mine[-1]
    round_number = (sub.get("round") or {}).get("number", "?")
    return (
        f"submission {sub['id']} of {model.name} for round {round_number} carries trigger "
        f"{trigger} (checked by trigger id)"
    ), ""


def _by_time(api: Any, model: ModelEntry, sent_at: dt.datetime) -> tuple[str | None, str]:
    """numerapi's own submission list (no trigger ids): one inserted after the webhook."""
    listed = api.submission_ids(model.id) or []
    newer = [
        (when, x)
        for x in listed
        if (when := _utc(x.get("insertedAt"))) and when >= sent_at - CLOCK_SKEW
    ]
    if not newer:
        return (
            None,
            f"none of {len(listed)} submission(s) of {model.name} is newer than the webhook",
        )
    when, sub = max(newer, key=lambda pair: pair[0])
    return (
        f"submission {sub['id']} of {model.name} inserted at {when.isoformat()}, after the "
        "webhook (checked by time: Numerai's API does not answer trigger ids)"
    ), ""


def confirm_submission(
    api: Any,
    model: ModelEntry,
    trigger: str,
    sent_at: dt.datetime,
    *,
    poll: float,
    secrets: tuple[str, ...],
    say: Say,
) -> str:
    """A line saying which submission proves the run, and by which check."""
    by_trigger = True
    seen = ""
    for attempt in range(CONFIRM_ATTEMPTS):
        if attempt:
            time.sleep(poll)
        try:
            if by_trigger:
                try:
                    proof, seen = _by_trigger(api, model, trigger)
                except ValueError as exc:
                    if "Cannot query field" not in str(exc):
                        raise
                    # The API has no triggerId on submissions: a newer submission must do.
                    say("  (Numerai's API does not answer trigger ids: checking by time)")
                    by_trigger = False
            if not by_trigger:
                proof, seen = _by_time(api, model, sent_at)
        except Exception as exc:  # NumeraiError/TransientError, numerapi's KeyError
            reason = scrub(f"{type(exc).__name__}: {exc}", secrets, mask=HIDDEN)
            raise SmokeFailed(
                "confirm", f"Numerai did not list the submissions: {reason}"
            ) from None
        if proof is not None:
            return proof
    raise SmokeFailed(
        "confirm",
        f"{seen}: the job ran but Numerai has no submission from it (dry run set on the job? "
        "see the logs above)",
    )


def _utc(value: Any) -> dt.datetime | None:
    """insertedAt as numerapi hands it over: an ISO string (or a datetime), as UTC."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return observe.parse_time(value)
