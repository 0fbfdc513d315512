"""One JSON object per log line, in the shape Cloud Logging reads from stdout.

Keys Cloud Logging understands: ``severity``, ``message``,
``logging.googleapis.com/labels``, ``logging.googleapis.com/sourceLocation``.
We format them ourselves (standard library only) instead of importing
google-cloud-logging: the dispatcher's cold start cannot afford its import, and in a
Cloud Run *job* its ``setup_logging()`` would pick the API handler, not stdout.

Callers attach data with ``extra``:

    log.info("submitted", extra={"labels": {"model_id": ...}, "fields": {"event": "submitted"}})

``labels`` become Cloud Logging labels (string values, filterable);
``fields`` are merged into the JSON payload (any JSON value).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Mapping
from typing import IO, Any

LABELS_KEY = "logging.googleapis.com/labels"
SOURCE_KEY = "logging.googleapis.com/sourceLocation"
LOG_FORMAT_ENV = "LOG_FORMAT"
FORMATS = ("json", "text")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "logger": record.name,
            SOURCE_KEY: {
                "file": record.pathname,
                "line": record.lineno,
                "function": record.funcName,
            },
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            payload.update(fields)
        labels = getattr(record, "labels", None)
        if isinstance(labels, Mapping) and labels:
            # Cloud Logging labels are string → string.
            payload[LABELS_KEY] = {str(k): str(v) for k, v in labels.items() if v is not None}
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal: time, level, message, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        line = f"{when} {record.levelname:<7} {record.getMessage()}"
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping) and fields:
            extras = " ".join(f"{k}={_short(v)}" for k, v in fields.items())
            line = f"{line}  [{extras}]"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, Mapping):
        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


def choose_format(requested: str | None, stream: IO[str]) -> str:
    """``LOG_FORMAT`` wins; else JSON unless the stream is a terminal.

    Raises ValueError naming LOG_FORMAT for any other value.
    """
    if requested:
        value = requested.strip().lower()
        if value not in FORMATS:
            raise ValueError(
                f"{LOG_FORMAT_ENV} must be one of {', '.join(FORMATS)} (got {requested!r})"
            )
        return value
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure(
    fmt: str,
    *,
    stream: IO[str] | None = None,
    level: int = logging.INFO,
    handler: logging.StreamHandler | None = None,
) -> None:
    """Route the root logger to ``stream`` (default stdout) in the chosen format, or
    through ``handler`` when one is given.

    Replaces any handler installed before (numerapi calls ``logging.basicConfig``).
    """
    handler = handler or logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
