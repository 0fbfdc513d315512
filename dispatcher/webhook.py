"""Numerai's Compute webhook body: parsing and shape checks.

    {"roundNumber": 371 | "test", "dataVersion": 1, "triggerId": "…", "isTest": true?}

Unknown keys are ignored (Numerai may add some); the known ones must have their types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from common.contract import ROUND_TEST

# Numerai's body is about 100 bytes; 64 KiB (the contract's limit) leaves room for any
# growth while bounding what an anonymous caller can make us buffer.
MAX_BODY_BYTES = 64 * 1024
# Numerai's trigger ids are short tokens; the id is also a log label and an env var,
# so cap it well below anything that would trouble either.
MAX_TRIGGER_ID_LENGTH = 256
# Numerai's rounds are numbered from 1 and open daily (round ~1,100 in 2026); a number
# beyond this is a forged or broken body, not a round, and would otherwise travel into
# the job's environment and Numerai's API as is.
MAX_ROUND_NUMBER = 100_000


class BodyNotJson(Exception):
    """The body is not a JSON document (→ 400)."""


class ShapeError(Exception):
    """The JSON has the wrong shape (→ 422); ``field`` names the offending key."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Webhook:
    round: int | str  # as sent: a round number or "test"
    data_version: int
    trigger_id: str
    is_test: bool

    @property
    def round_text(self) -> str:
        """The round as the job reads it from NUMERAI_ROUND."""
        return str(self.round)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_body(raw: bytes) -> Webhook:
    try:
        # NaN / Infinity are Python extensions, not JSON.
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BodyNotJson(f"body is not JSON: {exc}") from None
    except RecursionError:
        # json's parser recurses per nesting level; a 64 KiB body can nest far deeper than
        # the interpreter allows. Numerai's body is flat.
        raise BodyNotJson("body is not JSON this service reads: nested too deeply") from None
    if not isinstance(data, dict):
        raise ShapeError("body", f"body must be a JSON object, not {type(data).__name__}")
    return Webhook(
        round=_round(data),
        data_version=_data_version(data),
        trigger_id=_trigger_id(data),
        is_test=_is_test(data),
    )


def _is_int(value: Any) -> bool:
    # bool is an int in Python; true/false is not a round number.
    return isinstance(value, int) and not isinstance(value, bool)


def _round(data: dict[str, Any]) -> int | str:
    if "roundNumber" not in data:
        raise ShapeError("roundNumber", "roundNumber is required")
    value = data["roundNumber"]
    if value == ROUND_TEST:
        return ROUND_TEST
    if not _is_int(value):
        reason = f'roundNumber must be a round number or "test" (got {value!r})'
        raise ShapeError("roundNumber", reason)
    if not 1 <= value <= MAX_ROUND_NUMBER:
        raise ShapeError(
            "roundNumber", f"roundNumber must be between 1 and {MAX_ROUND_NUMBER} (got {value})"
        )
    return value


def _data_version(data: dict[str, Any]) -> int:
    if "dataVersion" not in data:
        raise ShapeError("dataVersion", "dataVersion is required")
    value = data["dataVersion"]
    if not _is_int(value):
        raise ShapeError("dataVersion", f"dataVersion must be an integer (got {value!r})")
    return value


def _trigger_id(data: dict[str, Any]) -> str:
    value = data.get("triggerId")
    if not isinstance(value, str) or not value.strip():
        raise ShapeError("triggerId", "triggerId must be a non-empty string")
    if len(value) > MAX_TRIGGER_ID_LENGTH:
        reason = f"triggerId is longer than {MAX_TRIGGER_ID_LENGTH} characters"
        raise ShapeError("triggerId", reason)
    if not value.isprintable():
        # It becomes an environment variable and a log label: no control characters.
        raise ShapeError("triggerId", "triggerId must not contain control characters")
    return value


def _is_test(data: dict[str, Any]) -> bool:
    value = data.get("isTest")
    if value is None:
        # Numerai's test button sends isTest; a bare "test" round means the same.
        return data.get("roundNumber") == ROUND_TEST
    if not isinstance(value, bool):
        raise ShapeError("isTest", f"isTest must be true or false (got {value!r})")
    return value
