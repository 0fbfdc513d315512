"""dispatcher/logbuffer.py: log lines held in a buffer, written in batches, never lost at
shutdown. The running process is checked in test_process.py."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging

from common import jsonlog
from dispatcher.logbuffer import BatchedStreamHandler, draining


class CountingStream(io.StringIO):
    """A stream that counts the flushes that reach it (each is a write to the fd)."""

    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0
        self.visible = ""

    def flush(self) -> None:
        self.flushes += 1
        self.visible = self.getvalue()


def _logger(handler: logging.Handler) -> logging.Logger:
    handler.setFormatter(jsonlog.JsonFormatter())
    log = logging.getLogger(f"test_logbuffer.{id(handler)}")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log


def test_lines_are_held_until_drained_and_nothing_is_lost_at_close() -> None:
    stream = CountingStream()
    handler = BatchedStreamHandler(stream)
    log = _logger(handler)
    for n in range(100):
        log.info("webhook %d", n)
    assert stream.flushes == 0 and stream.visible == ""  # no write per line
    handler.drain()
    assert stream.flushes == 1 and stream.visible.count("webhook") == 100
    log.info("last line before exit")
    handler.close()  # what logging.shutdown does at exit
    assert "last line before exit" in stream.visible


async def test_the_app_context_drains_on_a_timer_and_when_it_stops() -> None:
    stream = CountingStream()
    handler = BatchedStreamHandler(stream)
    log = _logger(handler)
    ctx = draining(handler, interval=0.01)(None)
    await ctx.__anext__()  # the app started
    log.info("while running")
    for _ in range(100):
        if "while running" in stream.visible:
            break
        await asyncio.sleep(0.01)
    assert "while running" in stream.visible
    log.info("during shutdown")
    with contextlib.suppress(StopAsyncIteration):
        await ctx.__anext__()  # the app stops
    assert "during shutdown" in stream.visible
