"""Cloud Logging, as far as a Cloud Run job's logs go: written like Cloud Run writes them,
read back through ``entries:list`` with a filter, like ``gcloud logging read`` asks.

- ``job_log_entries(...)`` turns what a task printed into the ``LogEntry`` JSON Cloud
  Run's logging agent makes of it: a JSON object line becomes ``jsonPayload`` with its
  special keys (``severity``, ``logging.googleapis.com/labels``, ``…/trace``,
  ``…/sourceLocation``, ``httpRequest``) lifted into the entry; any other line becomes
  ``textPayload``. Every entry carries the ``cloud_run_job`` resource and the
  ``run.googleapis.com/execution_name`` / ``task_index`` labels the job-log filter
  (docs/reference.md) uses.
- ``list_entries(entries, body)`` answers ``POST /v2/entries:list``
  (``{"resourceNames", "filter", "orderBy", "pageSize", "pageToken"}``) the way the API
  does, evaluating the subset of the logging query language that the verbs write:
  comparisons (``=``, ``!=``, ``>=``, ``<=``, ``>``, ``<``, ``:``) of a field path
  (``resource.type``, ``labels."a/b"``, ``jsonPayload.event``, ``timestamp``,
  ``severity`` — compared by level) with a quoted value (or a bare word without dots or
  colons), joined by ``AND``/``OR``, ``NOT`` and parentheses. Anything else is a 400
  naming what the fake does not understand, so an unexpected filter fails loudly.

FakeCloudRun serves ``list_entries`` for the entries its executions wrote (and those it
writes itself for a failed execution, ``fakes/cloudrun/audit.py``); the installed
``gcloud logging read`` reaches it as its proxy (``CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING``).
Standard library only.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fakes.googleapi.messages import google_error, rfc3339

# Keys of a structured log line that Cloud Logging lifts out of jsonPayload.
LABELS_KEY = "logging.googleapis.com/labels"
_LIFTED = {
    "logging.googleapis.com/trace": "trace",
    "logging.googleapis.com/spanId": "spanId",
    "logging.googleapis.com/sourceLocation": "sourceLocation",
    "httpRequest": "httpRequest",
}
SEVERITIES = (
    "DEFAULT",
    "DEBUG",
    "INFO",
    "NOTICE",
    "WARNING",
    "ERROR",
    "CRITICAL",
    "ALERT",
    "EMERGENCY",
)
# entries:list answers at most this many entries per page (the API's own maximum).
MAX_PAGE_SIZE = 1000
# An insertId: the API uses short random strings.
_INSERT_ID_BYTES = 8


class FilterError(ValueError):
    """A filter the fake cannot evaluate: the API answers 400 INVALID_ARGUMENT."""


def _parse_time(value: str) -> datetime:
    text = value.strip().replace("Z", "+00:00")
    text = re.sub(r"\.(\d{1,6})\d*", lambda m: "." + m.group(1).ljust(6, "0"), text)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- writing: what Cloud Run makes of a task's output -------------------------------


@dataclass(frozen=True)
class OutputLine:
    """One line a task printed, when, and on which stream."""

    text: str
    epoch: float
    stream: str = "stdout"  # "stdout" | "stderr"


def job_log_entries(
    *,
    project: str,
    region: str,
    job: str,
    execution: str,
    task_index: int,
    lines: Iterable[OutputLine],
    task_attempt: int = 0,
) -> list[dict[str, Any]]:
    """The LogEntry JSON Cloud Run writes for one task's output lines."""
    resource = {
        "type": "cloud_run_job",
        "labels": {"project_id": project, "job_name": job, "location": region},
    }
    base_labels = {
        "run.googleapis.com/execution_name": execution,
        "run.googleapis.com/task_index": str(task_index),
        "run.googleapis.com/task_attempt": str(task_attempt),
    }
    entries = []
    for line in lines:
        text = line.text.rstrip("\n")
        if not text.strip():
            continue
        entry: dict[str, Any] = {
            "insertId": secrets.token_hex(_INSERT_ID_BYTES),
            "logName": f"projects/{project}/logs/"
            + quote(f"run.googleapis.com/{line.stream}", safe=""),
            "resource": resource,
            "timestamp": rfc3339(line.epoch),
            "receiveTimestamp": rfc3339(line.epoch),
            "labels": dict(base_labels),
            "severity": "DEFAULT",
        }
        payload = _json_object(text)
        if payload is None:
            entry["textPayload"] = text
        else:
            severity = str(payload.pop("severity", "DEFAULT")).upper()
            entry["severity"] = severity if severity in SEVERITIES else "DEFAULT"
            labels = payload.pop(LABELS_KEY, None)
            if isinstance(labels, Mapping):
                entry["labels"].update({str(k): str(v) for k, v in labels.items()})
            for key, field in _LIFTED.items():
                if key in payload:
                    entry[field] = payload.pop(key)
            entry["jsonPayload"] = payload
        entries.append(entry)
    return entries


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# --- reading: entries:list with a filter ---------------------------------------------

_FILTER_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<op>>=|<=|!=|=|>|<|:)
    | (?P<paren>[()])
    | (?P<dot>\.)
    | (?P<word>[A-Za-z0-9_@/+*-]+)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Comparison:
    path: tuple[str, ...]
    op: str
    value: str


@dataclass(frozen=True)
class _Not:
    term: Any


@dataclass(frozen=True)
class _Bool:
    kind: str  # "AND" | "OR"
    terms: tuple[Any, ...]


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        match = _FILTER_TOKEN.match(text, pos)
        if match is None:
            raise FilterError(f"fake Cloud Logging: cannot parse the filter at {text[pos:]!r}")
        pos = match.end()
        if match.lastgroup != "space":
            out.append((match.lastgroup or "", match.group()))
    return out


class _FilterParser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterError("fake Cloud Logging: the filter ends too early")
        self.i += 1
        return token

    def parse(self) -> Any:
        if not self.tokens:
            return _Bool("AND", ())
        expr = self.disjunction()
        if self.peek() is not None:
            raise FilterError(f"fake Cloud Logging: unexpected {self.peek()[1]!r} in the filter")
        return expr

    def disjunction(self) -> Any:
        terms = [self.conjunction()]
        while self.peek() == ("word", "OR"):
            self.take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else _Bool("OR", tuple(terms))

    def conjunction(self) -> Any:
        terms = [self.unary()]
        while True:
            token = self.peek()
            if token == ("word", "AND"):
                self.take()
            elif token is None or token in (("paren", ")"), ("word", "OR")):
                break
            # Juxtaposed terms are an implicit AND in the logging query language.
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else _Bool("AND", tuple(terms))

    def unary(self) -> Any:
        token = self.peek()
        if token == ("word", "NOT"):
            self.take()
            return _Not(self.unary())
        if token == ("paren", "("):
            self.take()
            inner = self.disjunction()
            if self.take() != ("paren", ")"):
                raise FilterError("fake Cloud Logging: unbalanced parentheses in the filter")
            return inner
        return self.comparison()

    def comparison(self) -> _Comparison:
        path = [self.segment()]
        while self.peek() == ("dot", "."):
            self.take()
            path.append(self.segment())
        kind, op = self.take()
        if kind != "op":
            raise FilterError(
                f"fake Cloud Logging: expected an operator after {'.'.join(path)!r}, got {op!r}"
            )
        kind, value = self.take()
        if kind == "string":
            value = json.loads(value)
        elif kind != "word":
            raise FilterError(f"fake Cloud Logging: expected a value after {op!r}, got {value!r}")
        return _Comparison(tuple(path), op, value)

    def segment(self) -> str:
        kind, value = self.take()
        if kind == "string":
            return json.loads(value)
        if kind == "word" and value not in ("AND", "OR", "NOT"):
            return value
        raise FilterError(f"fake Cloud Logging: expected a field name, got {value!r}")


def parse_filter(text: str) -> Any:
    return _FilterParser(text).parse()


def _lookup(entry: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = entry
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _compare(actual: Any, op: str, expected: str, kind: str) -> bool:
    if actual is None:
        return op == "!="
    if op == ":":
        text = actual if isinstance(actual, str) else json.dumps(actual)
        return expected.lower() in text.lower()
    if kind == "time":
        left, right = _parse_time(str(actual)), _parse_time(expected)
    elif kind == "severity":
        # Severities compare by level (severity>=ERROR also matches CRITICAL), not by name.
        if expected.upper() not in SEVERITIES:
            raise ValueError(expected)
        left, right = SEVERITIES.index(str(actual)), SEVERITIES.index(expected.upper())
    elif isinstance(actual, bool | int | float):
        left, right = float(actual), float(expected)
    elif isinstance(actual, str):
        left, right = actual, expected
    else:
        return False
    return {
        "=": left == right,
        "!=": left != right,
        ">=": left >= right,
        "<=": left <= right,
        ">": left > right,
        "<": left < right,
    }[op]


def _evaluate(node: Any, entry: Mapping[str, Any]) -> bool:
    if isinstance(node, _Bool):
        results = (_evaluate(term, entry) for term in node.terms)
        return all(results) if node.kind == "AND" else any(results)
    if isinstance(node, _Not):
        return not _evaluate(node.term, entry)
    kind = "plain"
    if node.path[-1] in ("timestamp", "receiveTimestamp"):
        kind = "time"
    elif node.path == ("severity",):
        kind = "severity"
    try:
        return _compare(_lookup(entry, node.path), node.op, node.value, kind)
    except ValueError:
        raise FilterError(
            f"fake Cloud Logging: cannot compare {'.'.join(node.path)} with {node.value!r}"
        ) from None


def matches(entry: Mapping[str, Any], filter_text: str) -> bool:
    return _evaluate(parse_filter(filter_text), entry)


def _project_of(entry: Mapping[str, Any]) -> str:
    return str(_lookup(entry, ("resource", "labels", "project_id")) or "")


def list_entries(
    entries: Sequence[Mapping[str, Any]], body: Mapping[str, Any]
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, payload) for ``entries:list``; errors are Google error bodies."""
    names = body.get("resourceNames") or []
    projects = {
        n.split("/", 1)[1] for n in names if isinstance(n, str) and n.startswith("projects/")
    }
    if not projects:
        return 400, google_error(400, "resourceNames must name at least one projects/PROJECT")
    order = (body.get("orderBy") or "timestamp asc").strip().lower()
    if order not in ("timestamp asc", "timestamp desc"):
        return 400, google_error(400, f"orderBy {order!r}: only 'timestamp asc|desc' are valid")
    try:
        size = int(body.get("pageSize") or MAX_PAGE_SIZE)
        start = int(body.get("pageToken") or 0)
    except (TypeError, ValueError):
        return 400, google_error(400, "pageSize and pageToken must be integers")
    size = max(1, min(size, MAX_PAGE_SIZE))
    try:
        node = parse_filter(str(body.get("filter") or ""))
        found = [e for e in entries if _project_of(e) in projects and _evaluate(node, e)]
    except FilterError as exc:
        return 400, google_error(400, str(exc))
    found.sort(key=lambda e: _parse_time(e["timestamp"]), reverse=order.endswith("desc"))
    page = found[start : start + size]
    payload: dict[str, Any] = {"entries": page} if page else {}
    if start + size < len(found):
        payload["nextPageToken"] = str(start + size)
    return 200, payload
