"""The report as people read it (a table) and as scripts read it (FORMAT=json)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from common.redact import scrub
from ops.gcloud import HIDDEN
from ops.observe import render_table
from ops.report.rounds import Round
from ops.report.verdict import RUNNING, SUBMITTED, Row
from ops.settings import ConfigError

FORMATS = ("table", "json")
HEADER = ["MODEL", "STATE", "WHEN (UTC)", "HOW", "TRIGGER", "DETAIL"]


def parse_format(environ: Mapping[str, str]) -> str:
    value = environ.get("FORMAT", "").strip().lower() or FORMATS[0]
    if value not in FORMATS:
        raise ConfigError(f"FORMAT={environ['FORMAT']!r}: expected {' or '.join(FORMATS)}")
    return value


def _when(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment else None


def headline(rnd: Round, rows: Sequence[Row]) -> str:
    done = sum(r.state == SUBMITTED for r in rows)
    opened = f" (opened {rnd.opened:%Y-%m-%d %H:%M} UTC)" if rnd.opened else ""
    return f"round {rnd.number}{opened}: {done} of {len(rows)} model(s) submitted"


def next_steps(rnd: Round, rows: Sequence[Row]) -> list[str]:
    """What to type next for the models that did not submit (a rerun only while the
    round is open: Numerai accepts nothing for a closed one)."""
    late = [r.model.name for r in rows if r.state != SUBMITTED]
    if not late:
        return []
    steps = [f"why: make logs MODEL=<name>, e.g. make logs MODEL={late[0]}"]
    idle = [r.model.name for r in rows if r.state not in (SUBMITTED, RUNNING)]
    if idle and rnd.until is None:
        steps.append(f"submit now (once the cause is fixed): make rerun MODEL={','.join(idle)}")
    return steps


def table(rnd: Round, rows: Sequence[Row], secrets: Sequence[str]) -> str:
    cells = [
        [
            r.model.name,
            r.state,
            _when(r.when),
            r.how or "-",
            r.trigger_id or "-",
            scrub(r.detail, secrets, mask=HIDDEN) or "-",
        ]
        for r in rows
    ]
    lines = [headline(rnd, rows), render_table(HEADER, cells), *next_steps(rnd, rows)]
    return "\n".join(lines)


def as_json(rnd: Round, rows: Sequence[Row], secrets: Sequence[str]) -> str:
    models: list[dict[str, Any]] = [
        {
            "model": r.model.name,
            "model_id": r.model.id,
            "state": r.state,
            "when": _iso(r.when),
            "submission_id": r.submission_id,
            "trigger_id": r.trigger_id,
            "how": r.how,
            "execution": r.execution,
            "detail": scrub(r.detail, secrets, mask=HIDDEN),
        }
        for r in rows
    ]
    report = {
        "round": rnd.number,
        "opened": _iso(rnd.opened),
        "submitted": sum(r.state == SUBMITTED for r in rows),
        "models": models,
    }
    return json.dumps(report, indent=2)
