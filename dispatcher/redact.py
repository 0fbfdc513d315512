"""Keep the webhook token out of every log line, whoever writes it.

The dispatcher itself never logs the query string, but libraries may (aiohttp logs a
malformed request line with its URL). This filter, on the log handler, replaces the
secret in the message and in any exception text before the line is formatted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

MASK = "[redacted]"


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        cleaned = self._clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            if any(secret in text for secret in self._secrets):
                # The formatters render exc_info themselves; hand them the cleaned text.
                record.exc_info = None
                fields = dict(getattr(record, "fields", None) or {})
                fields["exception"] = self._clean(text)
                record.fields = fields
        return True


def install(secrets: Iterable[str]) -> None:
    """Attach the filter to every handler of the root logger."""
    redactor = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
