"""One launch per trigger: remember what each trigger launched, share launches in flight.

Numerai retries a webhook it did not see answered, and may deliver the same trigger
twice; each must not start a second execution. Memory is per process; a new process
starts from what Cloud Run's executions say was launched lately (dispatcher/history.py,
``remember``), so a restart or scale-to-zero does not forget.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Triggers remembered. Numerai retries within minutes, and one user's dispatcher sees
# one trigger per model per round (a few hundred at most), so 10,000 spans many
# rounds while costing about a megabyte.
DEFAULT_CAPACITY = 10_000


class TriggerDedupe(Generic[T]):
    """Remember successful results by key (LRU-bounded); coalesce concurrent calls.

    A failure is not remembered, so the next call with that key tries afresh.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._done: OrderedDict[object, T] = OrderedDict()
        self._in_flight: dict[object, asyncio.Task[T]] = {}

    def __len__(self) -> int:
        return len(self._done)

    def remember(self, key: object, result: T) -> None:
        """Record a result obtained elsewhere (an earlier instance's launch), unless
        this instance already has one for the key."""
        if key not in self._done:
            self._done[key] = result
            self._trim()

    async def run(self, key: object, launch: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Return (result, first): ``first`` is True only for the call that launched.

        The launch runs as its own task, so a caller that goes away (client gone, server
        shutting down) does not cancel it: once started, its result is still recorded,
        and the next delivery of the trigger gets it instead of a second execution.
        """
        if key in self._done:
            self._done.move_to_end(key)
            return self._done[key], False
        task = self._in_flight.get(key)
        if task is not None:
            return await asyncio.shield(task), False
        task = asyncio.ensure_future(launch())
        self._in_flight[key] = task
        task.add_done_callback(lambda done: self._settle(key, done))
        return await asyncio.shield(task), True

    def _settle(self, key: object, task: asyncio.Task[T]) -> None:
        del self._in_flight[key]
        if task.cancelled() or task.exception() is not None:
            return  # not recorded: a retry launches afresh
        self._done[key] = task.result()
        self._done.move_to_end(key)
        self._trim()

    def _trim(self) -> None:
        while len(self._done) > self._capacity:
            self._done.popitem(last=False)
