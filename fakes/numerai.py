"""A local stand-in for Numerai's API that speaks what numerapi 3.1.x speaks.

One stdlib ``ThreadingHTTPServer`` on 127.0.0.1 serves:

- ``POST /``: GraphQL, as numerapi sends it (``{"query", "variables"}``, header
  ``Authorization: Token PUBLIC$SECRET`` on authenticated calls). Operations are
  recognised by the root field a query asks for (``rounds``, ``listDatasets``,
  ``dataset``, ``account``, ``model``, ``submissions``, ``submission_upload_auth``,
  ``create_submission``, ``setSubmissionWebhook``, ``submissionDownloadAuth``) and
  answered with exactly the subfields it selects. Errors are HTTP 200 with
  ``{"errors": [{"message"}], "data": null}``, as Numerai answers them; an operation or
  field the fake does not implement is such an error, naming it.
- ``GET /files/<round>/<version>/<name>``: the synthetic dataset (``write_dataset``),
  with ``Content-Length`` and ``Range: bytes=N-`` → ``206`` (numerapi resumes a
  ``.temp`` file and appends whatever comes back).
- ``PUT /uploads/<token>``: the predictions upload numerapi makes between
  ``submission_upload_auth`` and ``create_submission`` (it never checks the status).
- ``GET /_fake/submissions``: what was received, for demo scripts.

Tests drive failures through ``fake.faults`` and inspect ``fake.submissions``,
``fake.requests``, ``fake.file_gets(name)`` and ``fake.webhooks``.

Run standalone: ``python -m fakes.numerai --data-dir DIR [--port 0] ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime as dt
import hmac
import http
import io
import json
import logging
import math
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fakes.synthetic import FILENAMES, FULL_SIZE, LIVE, SyntheticSpec, write_dataset

log = logging.getLogger(__name__)

# Numerai Classic's tournament id (numerapi's NumerAPI sets tournament_id = 8).
CLASSIC_TOURNAMENT = 8
# Serve files in chunks: big enough to be fast, small enough that a truncation fault
# or a client that stops reading is noticed within one chunk.
FILE_CHUNK = 64 * 1024
# A GraphQL request body larger than this is refused (numerapi's are < 2 KiB).
MAX_GRAPHQL_BODY = 1024 * 1024
# A predictions upload larger than this is refused (a full live CSV is ~250 KB).
MAX_UPLOAD_BODY = 64 * 1024 * 1024
# Listen backlog: round open sends a burst of webhooks, hence of job downloads.
LISTEN_BACKLOG = 128
# file_gets() waits at most this long for clients to finish or drop the bodies it counts.
BODY_SETTLE_SECONDS = 2.0
# Pause between a file response's headers and its body (see _send_file).
HEADER_BODY_GAP_SECONDS = 0.002
# After a client closes, how long a reset for unread data may take to show up.
RESET_GRACE_SECONDS = 0.02
# A connection idle this long between requests is closed (frees the handler thread).
IDLE_CONNECTION_SECONDS = 30.0
# The round opened this long before the fake started (rounds' openTime).
ROUND_OPEN_AGO = dt.timedelta(hours=1)
# Numerai rounds accept staked submissions for about a day after opening.
ROUND_STAKING_WINDOW = dt.timedelta(hours=25)


# --- just enough GraphQL ---------------------------------------------------------
# Not a GraphQL implementation (no types, fragments or directives): it parses a
# document into fields with arguments and selections so the fake answers by *what a
# query asks for*, and a field the fake lacks fails loudly, naming the field.


class GraphQLError(Exception):
    """Becomes ``{"errors": [{"message": str(err)}], "data": null}`` with HTTP 200."""


@dataclass(frozen=True)
class Field:
    name: str
    alias: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)  # literals or Variable
    selections: tuple[Field, ...] = ()

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass(frozen=True)
class Variable:
    name: str


@dataclass(frozen=True)
class Operation:
    kind: str  # "query" | "mutation"
    selections: tuple[Field, ...]

    def root(self) -> Field:
        return self.selections[0]


_TOKEN = re.compile(
    r"""
    (?P<skip>[\s,]+|\#[^\n]*)
    | (?P<spread>\.\.\.)
    | (?P<punct>[{}():\[\]!=$@|&])
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
    """,
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise GraphQLError(f"Syntax error: unexpected character {text[pos]!r} at {pos}")
        pos = match.end()
        kind = match.lastgroup or ""
        if kind != "skip":
            out.append((kind, match.group()))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise GraphQLError("Syntax error: unexpected end of document")
        token = self.tokens[self.i]
        if expected is not None and token[1] != expected:
            raise GraphQLError(f"Syntax error: expected {expected!r}, got {token[1]!r}")
        self.i += 1
        return token

    def name(self) -> str:
        kind, value = self.take()
        if kind != "name":
            raise GraphQLError(f"Syntax error: expected a name, got {value!r}")
        return value

    def document(self) -> Operation:
        kind = "query"
        if self.peek() in ("query", "mutation", "subscription"):
            kind = self.take()[1]
            if self.peek() not in ("(", "{"):
                self.name()  # operation name
            if self.peek() == "(":
                self.skip_balanced("(", ")")  # variable definitions: types are not checked
        selections = self.selection_set()
        if self.peek() is not None:
            raise GraphQLError("fake Numerai: one operation per document, please")
        if not selections:
            raise GraphQLError("Syntax error: empty selection set")
        return Operation(kind, selections)

    def skip_balanced(self, open_: str, close: str) -> None:
        depth = 0
        while True:
            value = self.take()[1]
            if value == open_:
                depth += 1
            elif value == close:
                depth -= 1
                if depth == 0:
                    return

    def selection_set(self) -> tuple[Field, ...]:
        self.take("{")
        fields: list[Field] = []
        while self.peek() != "}":
            if self.peek() == "...":
                raise GraphQLError("fake Numerai does not support fragments")
            fields.append(self.field())
        self.take("}")
        return tuple(fields)

    def field(self) -> Field:
        name = self.name()
        alias = None
        if self.peek() == ":":
            self.take(":")
            alias, name = name, self.name()
        args: dict[str, Any] = {}
        if self.peek() == "(":
            self.take("(")
            while self.peek() != ")":
                arg = self.name()
                self.take(":")
                args[arg] = self.value()
            self.take(")")
        selections = self.selection_set() if self.peek() == "{" else ()
        return Field(name, alias, args, selections)

    def value(self) -> Any:
        kind, token = self.take()
        if token == "$":
            return Variable(self.name())
        if kind == "string":
            return json.loads(token)
        if kind == "number":
            return json.loads(token)
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(token, token)  # enums: str
        if token == "[":
            items = []
            while self.peek() != "]":
                items.append(self.value())
            self.take("]")
            return items
        if token == "{":
            obj = {}
            while self.peek() != "}":
                key = self.name()
                self.take(":")
                obj[key] = self.value()
            self.take("}")
            return obj
        raise GraphQLError(f"Syntax error: unexpected {token!r} in an argument value")


def parse(query: str) -> Operation:
    return _Parser(query).document()


def arguments(f: Field, variables: Mapping[str, Any] | None) -> dict[str, Any]:
    """The field's arguments with ``$variables`` substituted (missing ones are null)."""
    variables = variables or {}

    def resolve(value: Any) -> Any:
        if isinstance(value, Variable):
            return variables.get(value.name)
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    return {name: resolve(value) for name, value in f.args.items()}


def project(value: Any, f: Field, type_name: str) -> Any:
    """Keep only the subfields ``f`` selects; a field the value lacks is an error naming it."""
    if not f.selections or value is None:
        return value
    if isinstance(value, list):
        return [project(item, f, type_name) for item in value]
    if not isinstance(value, Mapping):
        raise GraphQLError(f'Field "{f.name}" of type "{type_name}" has no subfields')
    out = {}
    for sub in f.selections:
        if sub.name == "__typename":
            out[sub.key] = type_name
            continue
        if sub.name not in value:
            raise GraphQLError(
                f'Cannot query field "{sub.name}" on type "{type_name}" '
                f"(not implemented by the fake Numerai)"
            )
        out[sub.key] = project(value[sub.name], sub, sub.name)
    return out


# --- records and faults ------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    id: str
    model_id: str
    trigger_id: str | None
    round: int
    filename: str
    csv: bytes
    rows: int
    inserted_at: str = ""  # ISO 8601, UTC

    def summary(self) -> dict[str, Any]:
        """JSON-friendly view without the CSV bytes (GET /_fake/submissions)."""
        return {
            "id": self.id,
            "model_id": self.model_id,
            "trigger_id": self.trigger_id,
            "round": self.round,
            "rows": self.rows,
            "filename": self.filename,
            "inserted_at": self.inserted_at,
        }


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    graphql_op: str | None  # the root field of a GraphQL POST, e.g. "create_submission"
    range: str | None  # the Range header, as sent
    status: int
    body_bytes_sent: int


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


# --- the fake --------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a delayed or stuck request never blocks stop()
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], fake: FakeNumerai) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

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


@dataclass
class _BodySend:
    """A file body being sent, until we know whether the client read it.

    numerapi's download first sends a GET just to read Content-Length and then drops
    it without reading the body (when the file is already complete, or to resume with
    a Range request). The server writes the body either way, so "written" is not
    "downloaded". Linux answers a close with unread data in the receive buffer (or
    data arriving after the close) with a TCP reset, so the connection's next event
    tells them apart: a reset → the client discarded the body; a clean EOF or a
    further request → it read it. Exact for bodies larger than the client's 8 KiB read
    buffer (every parquet file); best effort for tiny ones (features.json), which can
    reach the client's user-space buffer whole before it decides to drop them.
    """

    path: str
    fate: str = "pending"  # "pending" | "read" | "discarded" | "incomplete"


class FakeNumerai:
    def __init__(
        self,
        data_dir: Path,
        *,
        spec: SyntheticSpec = SyntheticSpec(),  # noqa: B008 - frozen, immutable default
        current_round: int = 842,
        public_id: str = "FAKEPUBLICID",
        secret_key: str = "FAKESECRETKEY",  # noqa: S107 - a fake key for a fake server
        port: int = 0,
        models: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.spec = spec
        self.current_round = current_round
        self.port = port
        self.models: dict[str, str] = {name: mid.lower() for name, mid in (models or {}).items()}
        self._token = f"Token {public_id}${secret_key}".encode()
        self.faults = Faults()
        self.webhooks: dict[str, str] = {}
        # False plays an API whose Submission type has no triggerId field: asking for it
        # is a GraphQL error (make smoke then checks by time instead).
        self.expose_trigger_ids = True
        self.url = ""
        self.started_at = dt.datetime.now(dt.UTC).replace(microsecond=0)

        self._files = write_dataset(spec, self.data_dir)
        self._live_ids = _read_ids(self._files[LIVE])
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._requests: list[RequestRecord] = []
        self._submissions: list[Submission] = []
        self._uploads: dict[str, dict[str, Any]] = {}  # token -> upload state
        self._bodies: list[_BodySend] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> FakeNumerai:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", self.port), self)
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

    # -- what tests inspect -----------------------------------------------------------

    @property
    def submissions(self) -> list[Submission]:
        with self._lock:
            return list(self._submissions)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def file_gets(self, name: str, *, settle: float = BODY_SETTLE_SECONDS) -> int:
        """How many GETs delivered the body of file ``name`` (e.g. "live.parquet").

        A GET whose body the client dropped unread (numerapi's size check of a file it
        already has) does not count, nor does a truncated one. Waits up to ``settle``
        seconds for clients still holding a connection to read or drop it; one still
        undecided then counts. See ``_BodySend`` for how (and its limit on tiny files).
        """
        suffix = "/" + name.lstrip("/")

        def pending() -> bool:
            return any(b.fate == "pending" and b.path.endswith(suffix) for b in self._bodies)

        with self._settled:
            self._settled.wait_for(lambda: not pending(), timeout=settle)
            return sum(
                b.fate in ("read", "pending") and b.path.endswith(suffix) for b in self._bodies
            )

    def dataset_names(self) -> list[str]:
        return sorted(f"{self.spec.data_version}/{name}" for name in FILENAMES)

    # -- bookkeeping (handler threads) ------------------------------------------------

    def _record(self, record: RequestRecord) -> int:
        """Log a request *before* its response is written (a client that has its answer
        finds it logged); returns the index for a later ``_amend``."""
        with self._lock:
            self._requests.append(record)
            return len(self._requests) - 1

    def _amend(self, index: int, **changes: Any) -> None:
        with self._lock:
            self._requests[index] = dataclasses.replace(self._requests[index], **changes)

    def _body_started(self, path: str) -> _BodySend:
        body = _BodySend(path)
        with self._lock:
            self._bodies.append(body)
        return body

    def _body_fate(self, body: _BodySend, fate: str) -> None:
        with self._settled:
            if body.fate == "pending":
                body.fate = fate
            self._settled.notify_all()

    # -- GraphQL ----------------------------------------------------------------------

    def execute(self, payload: Any, authorization: str | None) -> dict[str, Any]:
        """Run one GraphQL request; errors become a GraphQL error response."""
        try:
            if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
                raise GraphQLError('request body must be JSON {"query": ..., "variables": ...}')
            variables = payload.get("variables") or {}
            if not isinstance(variables, dict):
                raise GraphQLError('"variables" must be an object')
            operation = parse(payload["query"])
            data = {}
            for root in operation.selections:
                resolver = self._resolvers().get((operation.kind, root.name))
                if resolver is None:
                    raise GraphQLError(
                        f'fake Numerai does not implement {operation.kind} field "{root.name}"'
                    )
                value, type_name = resolver(arguments(root, variables), authorization)
                data[root.key] = project(value, root, type_name)
            return {"data": data}
        except GraphQLError as err:
            return {"errors": [{"message": str(err)}], "data": None}

    def _resolvers(self) -> dict[tuple[str, str], Any]:
        return {
            ("query", "rounds"): self._q_rounds,
            ("query", "listDatasets"): self._q_list_datasets,
            ("query", "dataset"): self._q_dataset,
            ("query", "account"): self._q_account,
            ("query", "model"): self._q_model,
            ("query", "submissions"): self._q_submissions,
            ("query", "submission_upload_auth"): self._q_upload_auth,
            ("query", "submissionDownloadAuth"): self._q_download_auth,
            ("mutation", "create_submission"): self._m_create_submission,
            ("mutation", "setSubmissionWebhook"): self._m_set_webhook,
        }

    def _authenticate(self, authorization: str | None) -> None:
        # Constant-time compare; the message never repeats what was sent.
        if authorization is None or not hmac.compare_digest(authorization.encode(), self._token):
            raise GraphQLError(
                "You must be authenticated to perform this action: missing or invalid "
                "API token (Authorization: Token PUBLIC_ID$SECRET_KEY)"
            )

    def _model(self, model_id: Any) -> tuple[str, str]:
        """(id, name) of a model this account may use.

        With no models registered, any UUID is accepted (named by its id), so tests
        that do not care about accounts need not register one.
        """
        if not model_id:
            raise GraphQLError("modelId is required")
        model_id = str(model_id).lower()
        for name, mid in self.models.items():
            if mid == model_id:
                return mid, name
        if self.models:
            raise GraphQLError(f"model {model_id} does not belong to this account")
        try:
            uuid.UUID(model_id)
        except ValueError:
            raise GraphQLError(f"modelId {model_id!r} is not a valid UUID") from None
        return model_id, model_id

    def _round_info(self, number: int) -> dict[str, Any]:
        opened = (
            self.started_at - ROUND_OPEN_AGO - (self.current_round - number) * dt.timedelta(days=1)
        )
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake-numerai/round/{number}")),
            "number": number,
            "tournament": CLASSIC_TOURNAMENT,
            "openTime": _iso(opened),
            "closeStakingTime": _iso(opened + ROUND_STAKING_WINDOW),
            "closeTime": _iso(opened + ROUND_STAKING_WINDOW),
            "resolveTime": _iso(opened + dt.timedelta(days=30)),
            "scoreTime": _iso(opened + dt.timedelta(days=3)),
            "resolvedGeneral": number < self.current_round - 30,
            "resolvedStaking": number < self.current_round - 30,
            "dataDatestamp": int(opened.strftime("%Y%m%d")),
        }

    def _round_arg(self, value: Any) -> int:
        """A round argument: null/0 → current; a future round is an error."""
        if value in (None, 0):
            return self.current_round
        if not isinstance(value, int) or value < 0:
            raise GraphQLError(f"round must be a round number, got {value!r}")
        if value > self.current_round:
            raise GraphQLError(f"round {value} has not opened yet (current: {self.current_round})")
        return value

    def _q_rounds(self, args: dict[str, Any], _auth: str | None) -> tuple[Any, str]:
        number = args.get("number")
        if number is None:
            numbers = range(self.current_round, 0, -1)
            limit = args.get("limit")
            return [self._round_info(n) for n in numbers[: limit or None]], "Round"
        return [self._round_info(self._round_arg(number))], "Round"

    def _q_list_datasets(self, args: dict[str, Any], _auth: str | None) -> tuple[Any, str]:
        self._round_arg(args.get("round"))
        return self.dataset_names(), "String"

    def _q_dataset(self, args: dict[str, Any], _auth: str | None) -> tuple[Any, str]:
        filename = args.get("filename")
        round_number = self._round_arg(args.get("round"))
        if filename not in self.dataset_names():
            raise GraphQLError(
                f"dataset {filename!r} not found; available: {', '.join(self.dataset_names())}"
            )
        return f"{self.url}/files/{round_number}/{filename}", "String"

    def _submission_view(self, sub: Submission) -> dict[str, Any]:
        latest = [
            s for s in self._submissions if s.model_id == sub.model_id and s.round == sub.round
        ]
        view = {
            "id": sub.id,
            "filename": sub.filename,
            "insertedAt": sub.inserted_at,
            "triggerId": sub.trigger_id,
            "modelId": sub.model_id,
            "selected": latest[-1].id == sub.id,  # the latest of a round counts
            "round": {"number": sub.round, "tournament": CLASSIC_TOURNAMENT},
        }
        if not self.expose_trigger_ids:
            del view["triggerId"]
        return view

    def _model_view(self, model_id: str, name: str) -> dict[str, Any]:
        with self._lock:
            subs = [self._submission_view(s) for s in self._submissions if s.model_id == model_id]
        return {
            "id": model_id,
            "name": name,
            "displayName": name,
            "tournament": CLASSIC_TOURNAMENT,
            "submissions": subs,
            "submissionWebhook": self.webhooks.get(model_id),
            "v2Stake": {"status": None, "txHash": None},
        }

    def _q_account(self, _args: dict[str, Any], auth: str | None) -> tuple[Any, str]:
        self._authenticate(auth)
        public_id = self._token.decode().removeprefix("Token ").split("$", 1)[0]
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "fake-numerai/account")),
            "username": "fake_user",
            "email": "fake_user@example.com",
            "walletAddress": None,
            "availableNmr": "0.0",
            "mfaEnabled": False,
            "status": "VERIFIED",
            "insertedAt": "2020-01-01T00:00:00Z",
            "models": [self._model_view(mid, name) for name, mid in self.models.items()],
            "apiTokens": [
                {
                    "name": "fake",
                    "public_id": public_id,
                    "scopes": ["upload_submission", "read_submission_info"],
                }
            ],
        }, "User"

    def _q_model(self, args: dict[str, Any], auth: str | None) -> tuple[Any, str]:
        self._authenticate(auth)
        return self._model_view(*self._model(args.get("modelId"))), "Model"

    def _q_submissions(self, args: dict[str, Any], auth: str | None) -> tuple[Any, str]:
        self._authenticate(auth)
        model_id, _ = self._model(args.get("modelId"))
        with self._lock:
            return [
                self._submission_view(s) for s in self._submissions if s.model_id == model_id
            ], "Submission"

    def _q_upload_auth(self, args: dict[str, Any], auth: str | None) -> tuple[Any, str]:
        self._authenticate(auth)
        model_id, _ = self._model(args.get("modelId"))
        name = args.get("filename")
        if not isinstance(name, str) or not name.endswith(".csv") or "/" in name:
            raise GraphQLError(f"filename must be a .csv file name, got {name!r}")
        token = uuid.uuid4().hex
        filename = f"{uuid.uuid4()}/{name}"
        with self._lock:
            self._uploads[token] = {"filename": filename, "model_id": model_id, "data": None}
        return {"filename": filename, "url": f"{self.url}/uploads/{token}"}, "UploadAuth"

    def _q_download_auth(self, args: dict[str, Any], auth: str | None) -> tuple[Any, str]:
        self._authenticate(auth)
        sub = self._find_submission(args.get("id"))
        return {
            "filename": Path(sub.filename).name,
            "url": f"{self.url}/submissions/{sub.id}",
        }, "DownloadAuth"

    def _find_submission(self, submission_id: Any) -> Submission:
        with self._lock:
            for sub in self._submissions:
                if sub.id == submission_id:
                    return sub
        raise GraphQLError(f"submission {submission_id!r} not found")

    def _m_set_webhook(self, args: dict[str, Any], auth: str | None) -> tuple[Any, str]:
        self._authenticate(auth)
        model_id, _ = self._model(args.get("modelId"))
        webhook = args.get("newSubmissionWebhook")
        with self._lock:
            if webhook:
                self.webhooks[model_id] = webhook
            else:
                self.webhooks.pop(model_id, None)
        return "true", "String"  # numerapi compares with the string "true"

    def _m_create_submission(self, args: dict[str, Any], auth: str | None) -> tuple[Any, str]:
        self._authenticate(auth)
        model_id, _ = self._model(args.get("modelId"))
        filename = args.get("filename")
        with self._lock:
            upload = next((u for u in self._uploads.values() if u["filename"] == filename), None)
        if upload is None or upload["data"] is None:
            raise GraphQLError(
                f"no uploaded file {filename!r}: PUT it to the URL from "
                f"submission_upload_auth first"
            )
        if upload["model_id"] != model_id:
            raise GraphQLError(f"upload {filename!r} was authorised for another model")
        if upload.get("submitted"):
            raise GraphQLError(f"upload {filename!r} was already submitted")
        message = self.faults.take("create_submission_error")
        if message is not None:
            raise GraphQLError(message)
        rows = self._validate_csv(upload["data"])
        sub = Submission(
            id=str(uuid.uuid4()),
            model_id=model_id,
            trigger_id=args.get("triggerId"),
            round=self.current_round,
            filename=filename,
            csv=upload["data"],
            rows=rows,
            inserted_at=_iso(dt.datetime.now(dt.UTC)),
        )
        with self._lock:
            upload["submitted"] = True
            self._submissions.append(sub)
        log.info(
            "submission %s model=%s trigger=%s rows=%d", sub.id, model_id, sub.trigger_id, rows
        )
        return {"id": sub.id}, "Submission"

    def _validate_csv(self, data: bytes) -> int:
        """Numerai's checks: columns exactly id,prediction; every live id once; values
        finite, in [0, 1], not all equal. Returns the row count."""
        try:
            reader = csv.reader(io.StringIO(data.decode("utf-8")))
            header = next(reader, None)
            rows = list(reader)
        except (UnicodeDecodeError, csv.Error) as err:
            raise GraphQLError(f"submission is not a readable CSV: {err}") from None
        if header != ["id", "prediction"]:
            raise GraphQLError(f"submission columns must be exactly id,prediction; got {header}")
        ids: set[str] = set()
        values: list[float] = []
        for line, row in enumerate(rows, start=2):
            if len(row) != 2:
                raise GraphQLError(f"submission line {line}: expected 2 fields, got {len(row)}")
            if row[0] in ids:
                raise GraphQLError(f"submission line {line}: duplicate id {row[0]!r}")
            ids.add(row[0])
            try:
                value = float(row[1])
            except ValueError:
                raise GraphQLError(
                    f"submission line {line}: prediction {row[1]!r} is not a number"
                ) from None
            if not math.isfinite(value) or not 0.0 <= value <= 1.0:
                raise GraphQLError(f"submission line {line}: prediction {row[1]} is not in [0, 1]")
            values.append(value)
        extra = ids - self._live_ids
        if extra:
            raise GraphQLError(
                f"submission has {len(extra)} ids not in live data (e.g. {sorted(extra)[0]})"
            )
        missing = self._live_ids - ids
        if missing:
            raise GraphQLError(
                f"submission is missing {len(missing)} of {len(self._live_ids)} live ids "
                f"(e.g. {sorted(missing)[0]})"
            )
        if len(set(values)) < 2:
            raise GraphQLError("submission predictions are constant")
        return len(rows)

    # -- uploads and files (handler threads) ----------------------------------------

    def _store_upload(self, token: str, data: bytes) -> bool:
        with self._lock:
            upload = self._uploads.get(token)
            if upload is None:
                return False
            upload["data"] = data
            return True

    def _file_path(self, url_path: str) -> Path | None:
        """The local file behind /files/<round>/<version>/<name>, or None."""
        match = re.fullmatch(r"/files/(\d+)/([^/]+)/([^/]+)", url_path)
        if match is None:
            return None
        round_number, version, name = int(match[1]), match[2], match[3]
        if version != self.spec.data_version or name not in FILENAMES:
            return None
        if not 0 < round_number <= self.current_round:
            return None
        return self._files[name]


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _read_ids(path: Path) -> frozenset[str]:
    import pyarrow.parquet as pq

    return frozenset(pq.read_table(path, columns=["id"]).column("id").to_pylist())


# --- HTTP --------------------------------------------------------------------------


def _html_error(status: int) -> bytes:
    """A load balancer's error page, as a real 5xx would carry (not JSON)."""
    phrase = http.HTTPStatus(status).phrase
    return (
        f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {phrase}</h1></center>\r\n</body>\r\n</html>\r\n"
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    server_version = "FakeNumerai/1.0"
    timeout = IDLE_CONNECTION_SECONDS
    server: _Server

    @property
    def fake(self) -> FakeNumerai:
        return self.server.fake

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # The previous response on this connection was a file body not yet known read.
    _unsettled: _BodySend | None = None

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
        """Wait for the client's next move after a file body: see _BodySend."""
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

    def _send_json(self, status: int, obj: Any, *, op: str | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), op=op)

    def _read_body(self, limit: int) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._send(411, _html_error(411), "text/html")
            return None
        if int(length) > limit:
            self.close_connection = True
            self._send(413, _html_error(413), "text/html")
            return None
        return self.rfile.read(int(length))

    # -- routes -----------------------------------------------------------------------

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path != "/":
            self._send(404, _html_error(404), "text/html")
            return
        raw = self._read_body(MAX_GRAPHQL_BODY)
        if raw is None:
            return
        try:
            payload = json.loads(raw)
        except ValueError:
            self._send_json(400, {"errors": [{"message": "request body is not JSON"}]})
            return
        op = _root_field_name(payload)
        delay = self.fake.faults.take("graphql_delay")
        if delay:
            self.fake._stopping.wait(delay)
        status = self.fake.faults.take(f"graphql_5xx:{op}") if op else None
        if status is None:
            status = self.fake.faults.take("graphql_5xx")
        if status is not None:
            self._send(status, _html_error(status), "text/html", op=op)
            return
        result = self.fake.execute(payload, self.headers.get("Authorization"))
        self._send_json(200, result, op=op)

    def do_PUT(self) -> None:
        match = re.fullmatch(r"/uploads/([0-9a-f]{32})", urlsplit(self.path).path)
        if match is None:
            self._send(404, _html_error(404), "text/html")
            return
        data = self._read_body(MAX_UPLOAD_BODY)
        if data is None:
            return
        status = self.fake.faults.take("fail_puts")
        if status is not None:
            self._send(status, _html_error(status), "text/html")
            return
        if not self.fake._store_upload(match[1], data):
            self._send(404, b"<Error><Code>NoSuchUpload</Code></Error>", "application/xml")
            return
        self._send(200, b"", "text/plain")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/_fake/submissions":
            self._send_json(200, [s.summary() for s in self.fake.submissions])
            return
        sub_match = re.fullmatch(r"/submissions/([0-9a-f-]{36})", path)
        if sub_match:
            try:
                sub = self.fake._find_submission(sub_match[1])
            except GraphQLError:
                self._send(404, _html_error(404), "text/html")
                return
            self._send(200, sub.csv, "text/csv")
            return
        file_path = self.fake._file_path(path)
        if file_path is None:
            self._send(404, _html_error(404), "text/html")
            return
        self._send_file(file_path)

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
            # its kernel buffer, which its close turns into a reset (see _BodySend).
            # Without the gap a small body can ride into its user-space buffer with the
            # headers and look read.
            self.wfile.flush()
            time.sleep(HEADER_BODY_GAP_SECONDS)
            with file_path.open("rb") as f:
                f.seek(start)
                while sent < to_send:
                    chunk = f.read(min(FILE_CHUNK, to_send - sent))
                    if not chunk:
                        break
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


def _root_field_name(payload: Any) -> str | None:
    """The first root field of a GraphQL request, for the request log (None if unparsable)."""
    try:
        return parse(payload["query"]).root().name
    except (GraphQLError, KeyError, TypeError):
        return None


# --- CLI ---------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.numerai",
        description="Serve synthetic Numerai data and accept submissions, on 127.0.0.1.",
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="where the dataset is written")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--full-size", action="store_true", help="Numerai-sized live data")
    parser.add_argument("--live-rows", type=int, help="override the number of live rows")
    parser.add_argument("--round", type=int, default=842, help="the current round number")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=ID",
        help="register a model (repeatable); without any, every model id is accepted",
    )
    parser.add_argument("--url-file", type=Path, help="write the URL here once listening")
    args = parser.parse_args(argv)
    for item in args.model:
        name, sep, model_id = item.partition("=")
        if not sep or not name:
            parser.error(f"--model: expected NAME=ID, got {item!r}")
        try:
            uuid.UUID(model_id)
        except ValueError:
            parser.error(f"--model {name}: {model_id!r} is not a UUID")
    if args.live_rows is not None and args.live_rows < 1:
        parser.error("--live-rows must be >= 1")
    if args.round < 1:
        parser.error("--round must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    spec = FULL_SIZE if args.full_size else SyntheticSpec()
    if args.live_rows is not None:
        spec = dataclasses.replace(spec, live_rows=args.live_rows)
    models = dict(item.split("=", 1) for item in args.model)
    fake = FakeNumerai(
        args.data_dir, spec=spec, current_round=args.round, port=args.port, models=models
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with fake:
        if args.url_file is not None:
            _write_atomically(args.url_file, fake.url + "\n")
        print(fake.url, flush=True)
        stop.wait()
    return 0


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
