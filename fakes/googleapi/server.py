"""``GoogleApiFake``: a stdlib HTTP server on 127.0.0.1 that answers like a Google REST API.

It accepts ordinary requests (a client pointed at ``fake.url``) and proxy-style ones
(``GET http://host/path HTTP/1.1``, a client using the fake as its HTTP proxy, as
gcloud does): requests for a host that is not the fake are refused and recorded, and
a ``CONNECT`` (a TLS tunnel to a real host) is never granted.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakes.googleapi.messages import Request, RequestRecord, Response, google_error

# Hosts that mean "this fake": loopback by address, and the made-up domain gcloud is
# pointed at (it prefixes the region, e.g. europe-west1-run.fake.test).
FAKE_DOMAIN = "fake.test"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")

# socketserver's default listen backlog is 5: a burst of 100 webhooks opening 100
# connections at once would see SYN retries (1 s+) instead of the API's latency.
LISTEN_BACKLOG = 256
# serve_forever checks for shutdown this often; the stdlib's 0.5 s would add half a
# second to every test that stops a fake.
SHUTDOWN_POLL_SECONDS = 0.02


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG
    fake: GoogleApiFake

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and hang up are part of the tests, not fake errors.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive: the google clients reuse a pooled session.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two sends; with Nagle on, the second waits for the
    # client's delayed ACK (~40 ms per call), which would swamp latency measurements.
    disable_nagle_algorithm = True
    server: Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_CONNECT(self) -> None:
        # A CONNECT means a client wanted a TLS tunnel to some real host: never grant it.
        fake = self.server.fake
        host = self.path
        fake._record(
            RequestRecord("CONNECT", host, "", {}, 405, foreign=True),
        )
        fake._log(f"refused CONNECT {host}")
        self._send(Response(405, google_error(405, f"fake refuses CONNECT to {host}")))
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the fake logs its own one-line summaries (see GoogleApiFake._log)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        fake = self.server.fake
        target = self.path
        if target.startswith(("http://", "https://")):  # proxy-style absolute URI
            parts = urlsplit(target)
            host = parts.netloc
        else:
            parts = urlsplit(target)
            host = self.headers.get("Host", "")
        body = self._read_body()
        request = Request(
            method=self.command,
            host=host,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        foreign = not fake._is_own_host(host)
        if foreign:
            response = Response(
                502, google_error(502, f"fake refuses a request to a non-fake host: {host}")
            )
        else:
            try:
                response = fake._handle(request)
            except Exception as exc:  # a bug in the fake must surface, not hang the client
                fake._log(f"fake error on {self.command} {parts.path}: {exc!r}")
                response = Response(500, google_error(500, f"fake error: {exc!r}"))
        auth_scheme = request.headers.get("authorization", "").partition(" ")[0]
        fake._record(
            RequestRecord(
                self.command,
                host,
                parts.path,
                request.query,
                response.status,
                body,
                foreign,
                auth_scheme,
            )
        )
        fake._log(f"{self.command} {host}{parts.path} -> {response.status}")
        self._send(response)

    def _send(self, response: Response) -> None:
        data = json.dumps(response.payload).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first (a client-side timeout test): nothing to tell it.
            self.close_connection = True


class GoogleApiFake:
    """A stdlib HTTP server on 127.0.0.1 that answers like a Google REST API.

    Subclasses implement ``_handle``. ``requests`` records every request in order;
    ``fail_next``/``hang_next`` script faults for the requests a subclass marks faultable.
    """

    def __init__(self, *, port: int = 0, verbose: bool = False) -> None:
        self._port = port
        self._verbose = verbose
        self._lock = threading.Lock()
        self._failures: deque[int] = deque()
        self._hangs: deque[float] = deque()
        self.requests: list[RequestRecord] = []
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------
    def start(self) -> GoogleApiFake:
        server = Server(("127.0.0.1", self._port), Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> GoogleApiFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- scripted faults ----------------------------------------------------------
    def fail_next(self, count: int, status: int = 503) -> None:
        """The next ``count`` faultable requests answer ``status`` with a Google error."""
        with self._lock:
            self._failures.extend([status] * count)

    def hang_next(self, count: int, seconds: float) -> None:
        """The next ``count`` faultable requests sleep ``seconds``, then answer normally."""
        with self._lock:
            self._hangs.extend([seconds] * count)

    def _fault(self) -> Response | None:
        """Apply the scripted hang and failure, if any, to one faultable request."""
        with self._lock:
            hang = self._hangs.popleft() if self._hangs else 0.0
            failure = self._failures.popleft() if self._failures else None
        if hang:
            time.sleep(hang)
        if failure is not None:
            return Response(failure, google_error(failure, f"fake: scripted {failure} error"))
        return None

    # --- bookkeeping --------------------------------------------------------------
    @property
    def foreign_requests(self) -> list[RequestRecord]:
        """Requests addressed to anything but this fake (all refused)."""
        with self._lock:
            return [r for r in self.requests if r.foreign]

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def _log(self, line: str) -> None:
        if self._verbose:
            print(f"[{type(self).__name__}] {line}", file=sys.stderr, flush=True)

    def _is_own_host(self, host: str) -> bool:
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
        if name in LOOPBACK_HOSTS:
            return port == str(self.port)
        return name == FAKE_DOMAIN or name.endswith("." + FAKE_DOMAIN)

    def _handle(self, request: Request) -> Response:
        raise NotImplementedError
