"""Keep secrets out of text and log lines, whoever writes them.

``scrub`` replaces each secret (and its URL-encoded form, as it appears in a query string)
in a piece of text; every part that prints something that may hold a secret — an error
from numerapi, gcloud's stderr, an exception — passes it through here. ``RedactSecrets``
does the same on a log handler, for lines libraries write: the dispatcher's own lines
never hold the query string, but aiohttp logs a malformed request line with its URL.
Standard library only.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "[redacted]"


def scrub(text: str, secrets: Iterable[str], mask: str = MASK) -> str:
    """``text`` with every non-empty secret, plain or URL-encoded, replaced by ``mask``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, mask)
            text = text.replace(urllib.parse.quote(secret, safe=""), mask)
    return text


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        cleaned = scrub(message, self._secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        for attribute in ("fields", "labels"):  # jsonlog's structured extras
            value = getattr(record, attribute, None)
            if value is not None:
                setattr(record, attribute, self._clean(value))
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            cleaned = scrub(text, self._secrets)
            if cleaned != text:
                # The formatters render exc_info themselves; hand them the cleaned text.
                record.exc_info = None
                fields = dict(getattr(record, "fields", None) or {})
                fields["exception"] = cleaned
                record.fields = fields
        return True

    def _clean(self, value: Any) -> Any:
        """Strings scrubbed, in mappings and sequences at any depth; anything else as is."""
        if isinstance(value, str):
            return scrub(value, self._secrets)
        if isinstance(value, Mapping):
            return {key: self._clean(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(item) for item in value]
        return value


def install(secrets: Iterable[str]) -> None:
    """Attach the filter to every handler of the root logger."""
    redactor = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
