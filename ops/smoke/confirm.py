"""Smoke stage 4: Numerai lists the submission the smoke run made."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from common.redact import scrub
from common.registry import ModelEntry
from ops.gcloud import HIDDEN
from ops.observe import CLOCK_SKEW
from ops.smoke.stage import Say, SmokeFailed
from ops.submissions import Listed, list_submissions

# Numerai may take a moment to list a submission it has just accepted.
CONFIRM_ATTEMPTS = 3


def _by_trigger(listed: Listed, model: ModelEntry, trigger: str) -> tuple[str | None, str]:
    """(proof or None, what was seen) among submissions that carry trigger ids."""
    mine = [x for x in listed.submissions if x.trigger_id == trigger]
    if not mine:
        count = len(listed.submissions)
        return None, f"none of {count} submission(s) of {model.name} carries trigger {trigger}"
    sub = mine[-1]
    return (
        f"submission {sub.id} of {model.name} for round {sub.round or '?'} carries trigger "
        f"{trigger} (checked by trigger id)"
    ), ""


def _by_time(listed: Listed, model: ModelEntry, sent_at: dt.datetime) -> tuple[str | None, str]:
    """Without trigger ids: a submission inserted after the webhook."""
    newer = [
        x
        for x in listed.submissions
        if x.inserted_at is not None and x.inserted_at >= sent_at - CLOCK_SKEW
    ]
    if not newer:
        return (
            None,
            f"none of {len(listed.submissions)} submission(s) of {model.name} is newer than "
            "the webhook",
        )
    sub = max(newer, key=lambda x: x.inserted_at or sent_at)
    when = sub.inserted_at.isoformat() if sub.inserted_at else "?"
    return (
        f"submission {sub.id} of {model.name} inserted at {when}, after the "
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
    said = False
    seen = ""
    for attempt in range(CONFIRM_ATTEMPTS):
        if attempt:
            time.sleep(poll)
        try:
            listed = list_submissions(api, model.id)
        except Exception as exc:  # NumeraiError/TransientError, numerapi's KeyError
            reason = scrub(f"{type(exc).__name__}: {exc}", secrets, mask=HIDDEN)
            raise SmokeFailed(
                "confirm", f"Numerai did not list the submissions: {reason}"
            ) from None
        if listed.trigger_ids:
            proof, seen = _by_trigger(listed, model, trigger)
        else:
            if not said:
                say("  (Numerai's API does not answer trigger ids: checking by time)")
                said = True
            proof, seen = _by_time(listed, model, sent_at)
        if proof is not None:
            return proof
    raise SmokeFailed(
        "confirm",
        f"{seen}: the job ran but Numerai has no submission from it (dry run set on the job? "
        "see the logs above)",
    )
