"""Failures the fake Numerai can be told to inject (``fake.faults``)."""

from __future__ import annotations

import threading
from typing import Any


class Faults:
    """Failures to inject; thread-safe; each armed fault counts down to zero.

    Arming a fault again replaces its remaining count and parameters.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[str, list[Any]] = {}  # kind -> [remaining, *params]

    def graphql_5xx(self, count: int, status: int = 503, *, op: str | None = None) -> None:
        """The next ``count`` GraphQL POSTs answer ``status`` (a 5xx) with an HTML body.

        With ``op`` (a root field, e.g. ``"model"``), only POSTs asking for it count, so a
        test can fail one step of a flow while the steps before it succeed.
        """
        if not 500 <= status <= 599:
            raise ValueError(f"graphql_5xx: status must be 5xx, got {status}")
        self._arm("graphql_5xx" if op is None else f"graphql_5xx:{op}", count, status)

    def graphql_delay(self, count: int, seconds: float) -> None:
        """The next ``count`` GraphQL POSTs sleep ``seconds`` before answering."""
        if seconds < 0:
            raise ValueError("graphql_delay: seconds must be >= 0")
        self._arm("graphql_delay", count, seconds)

    def truncate_downloads(self, count: int, fraction: float = 0.5) -> None:
        """The next ``count`` file GETs announce the full Content-Length, send only
        ``fraction`` of the body and close the connection."""
        if not 0.0 <= fraction < 1.0:
            raise ValueError("truncate_downloads: fraction must be in [0, 1)")
        self._arm("truncate_downloads", count, fraction)

    def slow_downloads(self, count: int, seconds_per_chunk: float) -> None:
        """The next ``count`` file GETs pause ``seconds_per_chunk`` before each chunk of
        the body: a transfer that keeps going, too slowly (each read still gets data)."""
        if seconds_per_chunk <= 0:
            raise ValueError("slow_downloads: seconds_per_chunk must be > 0")
        self._arm("slow_downloads", count, seconds_per_chunk)

    def fail_puts(self, count: int, status: int = 500) -> None:
        """The next ``count`` upload PUTs answer ``status`` and store nothing."""
        if not 400 <= status <= 599:
            raise ValueError(f"fail_puts: status must be 4xx/5xx, got {status}")
        self._arm("fail_puts", count, status)

    def create_submission_error(self, message: str, count: int = 1) -> None:
        """The next ``count`` create_submission calls answer a GraphQL error ``message``."""
        self._arm("create_submission_error", count, message)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def _arm(self, kind: str, count: int, *params: Any) -> None:
        if count < 0:
            raise ValueError(f"{kind}: count must be >= 0")
        with self._lock:
            self._armed[kind] = [count, *params]

    def take(self, kind: str) -> Any:
        """The fault's parameter if armed (and count it down), else None."""
        with self._lock:
            armed = self._armed.get(kind)
            if not armed or armed[0] <= 0:
                return None
            armed[0] -= 1
            return armed[1]
