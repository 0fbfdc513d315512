"""The fake Numerai's HTTP base: responses logged as they go out, and file downloads.

File bodies (``GET /files/...``) honour ``Range: bytes=N-`` with ``206``, and the
handler finds out whether the client actually read each body (see ``BodySend``):
``fake.file_gets()`` counts downloads, not bodies written. The routes are in
``routes.py``.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from fakes.numerai.api import GraphQLApi
from fakes.numerai.records import BodySend, RequestRecord

log = logging.getLogger(__name__)

# A slow download trickles this many bytes per pause.
SLOW_CHUNK = 4096
# Serve files in chunks: big enough to be fast, small enough that a truncation fault
# or a client that stops reading is noticed within one chunk.
FILE_CHUNK = 64 * 1024
# Pause between a file response's headers and its body (see _send_file).
HEADER_BODY_GAP_SECONDS = 0.002
# After a client closes, how long a reset for unread data may take to show up.
RESET_GRACE_SECONDS = 0.02
# A connection idle this long between requests is closed (frees the handler thread).
IDLE_CONNECTION_SECONDS = 30.0


class DownloadHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    server_version = "FakeNumerai/1.0"
    timeout = IDLE_CONNECTION_SECONDS
    # fake.Server, which carries the fake; not imported here, as fake.py imports this
    # module (through routes.py).
    server: Any

    @property
    def fake(self) -> GraphQLApi:
        return self.server.fake

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # The previous response on this connection was a file body not yet known read.
    _unsettled: BodySend | None = None

    def handle_one_request(self) -> None:
        body, self._unsettled = self._unsettled, None
        if body is not None:
            fate = self._fate_of_previous_body()
            self.fake._body_fate(body, fate)
            if fate != "read" or self.rfile.peek(1) == b"":
                self.close_connection = True
                return
        super().handle_one_request()

    def _fate_of_previous_body(self) -> str:
        """Wait for the client's next move after a file body: see BodySend."""
        try:
            more = self.rfile.peek(1)
        except ConnectionResetError:
            return "discarded"  # closed with our data unread in its buffer
        except TimeoutError:
            return "read"  # idle keep-alive: nothing says it was dropped, so count it
        if more:
            return "read"  # a next request: it read the whole response first
        # EOF. A clean close after reading everything sends FIN only. A client that
        # closed before our body arrived sent FIN first and the kernel answered our
        # late data with a reset, which a read after FIN does not raise: the socket
        # error records it. Loopback delivers synchronously; the grace period is for
        # a busy machine.
        deadline = time.monotonic() + RESET_GRACE_SECONDS
        while True:
            if self.connection.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                return "discarded"
            if time.monotonic() >= deadline:
                return "read"
            time.sleep(RESET_GRACE_SECONDS / 5)

    # -- responses --------------------------------------------------------------------

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        *,
        op: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        sent = 0 if self.command == "HEAD" else len(body)
        index = self.fake._record(
            RequestRecord(self.command, self.path, op, self.headers.get("Range"), status, sent)
        )
        try:
            self.end_headers()
            if sent:
                self.wfile.write(body)
        except ConnectionError:
            self.fake._amend(index, body_bytes_sent=0)
            raise

    def _send_file(self, file_path: Path) -> None:
        size = file_path.stat().st_size
        start, status = 0, 200
        headers = {"Accept-Ranges": "bytes"}
        range_header = self.headers.get("Range")
        if range_header is not None:
            match = re.fullmatch(r"bytes=(\d+)-", range_header.strip())
            if match is None or int(match[1]) >= size:
                self._send(416, b"", "text/plain", headers={"Content-Range": f"bytes */{size}"})
                return
            start, status = int(match[1]), 206
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        length = size - start
        head = self.command == "HEAD"
        fraction = None if head else self.fake.faults.take("truncate_downloads")
        pause = None if head else self.fake.faults.take("slow_downloads")
        to_send = 0 if head else length if fraction is None else int(length * fraction)
        index = self.fake._record(
            RequestRecord(self.command, self.path, None, range_header, status, to_send)
        )
        # Registered before the headers go out, so file_gets() never misses a body a
        # client has already seen.
        body = None if head else self.fake._body_started(self.path)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if body is None:
            return
        sent = 0
        try:
            # Headers apart from the body, and a moment for the client to read them: a
            # client that reads the headers and drops the body then leaves the body in
            # its kernel buffer, which its close turns into a reset (see BodySend).
            # Without the gap a small body can ride into its user-space buffer with the
            # headers and look read.
            self.wfile.flush()
            time.sleep(HEADER_BODY_GAP_SECONDS)
            with file_path.open("rb") as f:
                f.seek(start)
                while sent < to_send:
                    chunk = f.read(min(SLOW_CHUNK if pause else FILE_CHUNK, to_send - sent))
                    if not chunk:
                        break
                    if pause and self.fake._stopping.wait(pause):
                        break  # the fake is stopping: end the trickle
                    self.wfile.write(chunk)
                    sent += len(chunk)
        except ConnectionError:
            pass  # the client hung up mid-body
        finally:
            if sent != to_send:
                self.fake._amend(index, body_bytes_sent=sent)
        if sent < length:
            self.close_connection = True  # truncated: the client sees the connection close
            self.fake._body_fate(body, "incomplete")
        else:
            self._unsettled = body
