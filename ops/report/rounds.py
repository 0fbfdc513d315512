"""The round a report is about, from Numerai: its number and when it opened.

A round's runs are the executions created from its opening until the next round opened
(or now, while it is the open round); its logs are searched from its opening on. Numerai
answers ``rounds(tournament, number)`` for any round up to the open one (``number: 0`` is
the open round, as numerapi's ``get_current_round`` asks).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from common.contract import ROUND_CURRENT
from ops.observe import parse_time
from ops.settings import ConfigError

ROUND_QUERY = """
query($tournament: Int!, $number: Int!) {
  rounds(tournament: $tournament, number: $number) { number openTime }
}
"""
# Numerai Classic (numerapi's default tournament_id).
CLASSIC = 8


@dataclass(frozen=True)
class Round:
    number: int
    opened: dt.datetime | None  # None: Numerai did not say
    until: dt.datetime | None = None  # the next round's opening; None: still open


def parse_round(value: str | None) -> str | int:
    """ROUND: ``current`` (the default) or a round number."""
    text = (value or "").strip().lower() or ROUND_CURRENT
    if text == ROUND_CURRENT:
        return ROUND_CURRENT
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise ConfigError(f"ROUND={value!r}: expected 'current' or a round number, e.g. ROUND=842")


def _fetch(api: Any, number: int) -> tuple[int, dt.datetime | None]:
    raw = api.raw_query(ROUND_QUERY, {"tournament": CLASSIC, "number": number})
    found = raw["data"]["rounds"] or []
    if not found or not isinstance(found[0], dict) or "number" not in found[0]:
        raise ValueError(f"Numerai knows no round {number or ROUND_CURRENT}")
    return int(found[0]["number"]), parse_time(found[0].get("openTime"))


def resolve(api: Any, wanted: str | int) -> Round:
    """The round ROUND names; ConfigError for a round that has not opened yet."""
    current, opened = _fetch(api, 0)
    if wanted in (ROUND_CURRENT, current):
        return Round(current, opened)
    assert isinstance(wanted, int)
    if wanted > current:
        raise ConfigError(f"ROUND={wanted}: has not opened yet (the open round is {current})")
    number, opened = _fetch(api, wanted)
    _, next_opened = _fetch(api, wanted + 1)
    return Round(number, opened, next_opened)
