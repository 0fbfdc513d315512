"""``FakeNumerai``: the fake's state and GraphQL API, served on 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from fakes.numerai.api import GraphQLApi
from fakes.numerai.routes import Handler

# Listen backlog: round open sends a burst of webhooks, hence of job downloads.
LISTEN_BACKLOG = 128


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a delayed or stuck request never blocks stop()
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], fake: GraphQLApi) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Hang up on kept-alive clients, so their handler threads end with the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):  # already gone
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-response are normal here (numerapi's size check,
        # truncation faults); anything else is a bug in the fake worth a traceback.
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class FakeNumerai(GraphQLApi):
    """A local stand-in for Numerai's API (see the package docstring); a context manager.

    Constructing it writes the synthetic dataset into ``data_dir``; ``start()`` listens
    on ``port`` (0 picks a free one) and sets ``url``.
    """

    _server: Server | None = None
    _thread: threading.Thread | None = None

    def start(self) -> FakeNumerai:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = Server(("127.0.0.1", self.port), self)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() returns within 50 ms
            name=f"fake-numerai:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # releases delayed requests
        server.shutdown()
        server.server_close()
        server.drop_connections()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeNumerai:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
