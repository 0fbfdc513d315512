"""A model's submissions as Numerai lists them: what `make smoke` and `make report` check.

Numerai's ``submissions(modelId)`` query (numerapi's ``submission_ids`` asks the same
root field) answers every submission of a model; we also ask for its round and its
trigger id (what the job handed Numerai as ``triggerId``). An API whose Submission type
has no ``triggerId`` answers "Cannot query field": the list is then asked again without
it, and ``Listed.trigger_ids`` is False so the caller can say which check it made.

Errors are the client's own (numerai_data's NumeraiError and TransientError, numerapi's
KeyError on an answer without data): the callers name and scrub them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ops.observe import parse_time

_FIELDS = "id insertedAt round { number }"
SUBMISSIONS_WITH_TRIGGER = (
    "query($modelId: String) { submissions(modelId: $modelId) { " + _FIELDS + " triggerId } }"
)
SUBMISSIONS = "query($modelId: String) { submissions(modelId: $modelId) { " + _FIELDS + " } }"
# How a GraphQL API refuses a field its schema lacks.
_UNKNOWN_FIELD = "Cannot query field"


@dataclass(frozen=True)
class Submission:
    id: str
    round: int | None
    inserted_at: dt.datetime | None  # UTC
    trigger_id: str | None  # None when absent, or when the API does not answer it


@dataclass(frozen=True)
class Listed:
    submissions: tuple[Submission, ...]
    trigger_ids: bool  # False: the API has no triggerId on submissions

    def for_round(self, number: int) -> Submission | None:
        """The submission that counts for round ``number``: Numerai keeps the latest."""
        mine = [x for x in self.submissions if x.round == number]
        if not mine:
            return None
        oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
        return max(mine, key=lambda x: x.inserted_at or oldest)


def list_submissions(api: Any, model_id: str) -> Listed:
    """Every submission of ``model_id`` (an authenticated numerai_data NumeraiClient)."""
    try:
        raw = api.raw_query(SUBMISSIONS_WITH_TRIGGER, {"modelId": model_id}, True)
        with_trigger = True
    except ValueError as exc:
        if _UNKNOWN_FIELD not in str(exc):
            raise
        raw = api.raw_query(SUBMISSIONS, {"modelId": model_id}, True)
        with_trigger = False
    items = raw["data"]["submissions"] or []
    return Listed(tuple(_submission(x) for x in items if isinstance(x, dict)), with_trigger)


def _submission(item: dict[str, Any]) -> Submission:
    number = (item.get("round") or {}).get("number")
    inserted = item.get("insertedAt")
    if isinstance(inserted, dt.datetime):
        when = inserted if inserted.tzinfo else inserted.replace(tzinfo=dt.UTC)
    else:
        when = parse_time(inserted)
    return Submission(
        id=str(item.get("id", "")),
        round=number if isinstance(number, int) else None,
        inserted_at=when,
        trigger_id=item.get("triggerId") or None,
    )
