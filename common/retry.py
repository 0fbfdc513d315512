"""Bounded retries with exponential backoff, only on errors named transient."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class TransientError(Exception):
    """A failure worth another try: connection error, timeout, 5xx, truncated download."""


class RetriesExhausted(Exception):
    """A transient failure that persisted through every attempt."""


@dataclass(frozen=True)
class RetryPolicy:
    # Four attempts over 1 + 2 + 4 = 7 s ride out a short API blip or a dropped
    # connection without holding a round-open job for long.
    attempts: int = 4
    first_delay: float = 1.0
    backoff: float = 2.0
    # Never sleep longer than this between two attempts.
    max_delay: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.first_delay < 0 or self.backoff < 1:
            raise ValueError(f"invalid retry policy {self}")

    def call(
        self,
        fn: Callable[[], T],
        *,
        what: str,
        logger: logging.Logger | logging.LoggerAdapter = log,
    ) -> T:
        """Run ``fn``; on TransientError try again up to ``attempts`` times in all.

        Any other exception propagates at once. When every attempt failed, raise
        RetriesExhausted("<what> failed after N attempts: <last error>").
        """
        delay = self.first_delay
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except TransientError as exc:
                if attempt == self.attempts:
                    raise RetriesExhausted(
                        f"{what} failed after {attempt} attempts: {exc}"
                    ) from exc
                logger.warning(
                    "%s failed (%s); retrying in %.1f s",
                    what,
                    exc,
                    delay,
                    extra={"fields": {"attempt": attempt, "retry_in": delay}},
                )
                time.sleep(delay)
                delay = min(delay * self.backoff, self.max_delay)
        raise AssertionError("unreachable: attempts >= 1")  # pragma: no cover


NO_DELAY = RetryPolicy(first_delay=0.0)
