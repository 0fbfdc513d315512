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
    return _scrub(text, _forms(secrets), mask)


def _forms(secrets: Iterable[str]) -> tuple[str, ...]:
    """Each non-empty secret as written and URL-encoded (as in a query string)."""
    forms: dict[str, None] = {}
    for secret in secrets:
        if secret:
            forms[secret] = None
            forms[urllib.parse.quote(secret, safe="")] = None
    return tuple(forms)


def _scrub(text: str, forms: tuple[str, ...], mask: str) -> str:
    for form in forms:
        if form in text:
            text = text.replace(form, mask)
    return text


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Both forms computed once: the filter runs for every line the process writes.
        self._secrets = _forms(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        cleaned = _scrub(message, self._secrets, MASK)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        for attribute in ("fields", "labels"):  # jsonlog's structured extras
            value = getattr(record, attribute, None)
            if value is not None:
                setattr(record, attribute, self._clean(value))
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            cleaned = _scrub(text, self._secrets, MASK)
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
            return _scrub(value, self._secrets, MASK)
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
