"""Logging for the job: the shared JSON/text formatter, labels on every model line."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from common import jsonlog

# numerapi logs every step at INFO (and calls logging.basicConfig); its own failures
# reach us as exceptions, so only its warnings are worth a line.
_QUIET = {"numerapi": logging.WARNING, "urllib3": logging.WARNING}


def configure(fmt: str) -> None:
    jsonlog.configure(fmt)
    for name, level in _QUIET.items():
        logging.getLogger(name).setLevel(level)


class LabelledLogger(logging.LoggerAdapter):
    """Adds fixed Cloud Logging labels to every record; per-call labels/fields merge in."""

    def __init__(self, logger: logging.Logger, labels: Mapping[str, Any]):
        super().__init__(logger, {"labels": dict(labels)})

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = dict(kwargs.get("extra") or {})
        extra["labels"] = {**self.extra["labels"], **extra.get("labels", {})}
        kwargs["extra"] = extra
        return msg, kwargs

    def with_labels(self, **labels: Any) -> LabelledLogger:
        return LabelledLogger(self.logger, {**self.extra["labels"], **labels})
