"""One RunJob call with the google-cloud-run client's request, without its per-call work.

``JobsClient.run_job`` spends ~2 ms of CPU per call (profiled), and most of it is
pure-Python protobuf work whose outcome hardly changes between webhooks:
proto-plus → protobuf → JSON (path transcoding, ``MessageToJson``) for a request that
differs from the last one only in four env values, then JSON → protobuf for the ~1.5 KB
``Operation`` whose ``Any`` metadata is a whole ``Execution`` (timestamps parsed with
``strptime``), wrapped in an ``Operation`` future, of which the dispatcher reads one
field: the execution's name. What is left is the HTTP call, and a synchronous client
needs a thread for it: a hand-off to the pool and back per webhook, and at concurrency
20, launch threads and the event loop passing the GIL between them. ``HttpRunJob`` sends
the same HTTP request with aiohttp's client on the event loop (the dispatcher's own
framework: no thread, and its C HTTP parser), with the client's credentials, and reads the
one field it needs from the answer with the standard library's JSON parser. Measured
against the fake: 0.56-0.70 ms of CPU per call through google-auth's urllib3 transport in
the launch threads (the previous version), against ~0.2 ms on the loop (docs/benchmarks.md).

Taken from the client, once per job, with the client's own code: its credentials (the
scoped ones its session uses) and default host, its endpoint (``client_options``,
universe, mTLS resolution), the HTTP rule and ``transcode_request`` on a
``RunJobRequest`` whose env values are placeholders (each call fills in the values,
JSON-escaped as ``MessageToJson`` escapes them), the headers its session and wrapped
method add (``x-goog-api-client``, ``x-goog-request-params``, requests' defaults), and
its error mapping (``format_http_response_error``, so ``cloudrun._classify`` sees the
same API exceptions; transport errors are aiohttp's, which ``_classify`` names too).
The token is the credentials' own: attached with ``Credentials.apply``, refreshed (in a
thread: google-auth's refresh blocks) when it is missing or about to expire, and after a
401, as the client's ``AuthorizedSession`` does. At start-up ``HttpRunJob.checked``
compares its body with the client's for a value that needs every kind of escaping, and
tests/dispatcher/test_runjob.py compares the whole request, as the server receives it,
with what ``JobsClient.run_job`` sends.

Private parts of the client used (a release may move them): ``transport._session``,
``JobsRestTransport._RunJob._get_http_options`` and the transport module's
``transcode_request``. If one is missing, the session is mutual TLS, or the check fails,
``choose`` falls back to ``ClientRunJob``, the plain ``JobsClient.run_job`` path in the
launch threads (correct, ~2 ms more CPU per webhook), and logs a warning; the tests fail
loudly instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from common.contract import OVERRIDE_NAMES

if TYPE_CHECKING:
    from google.api_core.gapic_v1.client_info import ClientInfo
    from google.cloud import run_v2

log = logging.getLogger(__name__)


class RunJob(Protocol):
    async def __call__(self, job_name: str, env: Mapping[str, str], timeout: float) -> str:
        """Start an execution of ``job_name`` with ``env``; its resource name."""
        ...

    async def close(self) -> None:
        """Release what the runner holds beyond the client (connections)."""
        ...


# The location in a job's resource name: what JobsClient.run_job routes on.
_LOCATION = re.compile(r"^projects/[^/]+/locations/(?P<location>[^/]+)(?:/.*)?$")
# Stands for the i-th env value in the body template; no such text occurs in the JSON
# the client makes of the rest of the request (field and variable names only).
_SLOT = "@@numerai-slot-{}@@"
_SLOT_PATTERN = re.compile(r"@@numerai-slot-(\d+)@@")
# A value that needs every kind of JSON escaping (see HttpRunJob.checked).
_PROBE_VALUE = 'q"b\\s/ é✓😀\n\t\x01 </x> @@numerai-slot-0@@'
# Refreshes after a 401 within one call, as google-auth's AuthorizedSession allows.
MAX_REFRESH_ATTEMPTS = 2
_UNAUTHORIZED = 401


def client_info() -> ClientInfo:
    """The ``ClientInfo`` the client is built with (its own default, named here so the
    ``x-goog-api-client`` header ``HttpRunJob`` sends is the client's)."""
    from google.cloud.run_v2.services.jobs import client

    return client.DEFAULT_CLIENT_INFO


def run_job_request(job_name: str, env: Mapping[str, str]) -> run_v2.RunJobRequest:
    """The RunJob request: one container override with ``env``, one task."""
    from google.cloud import run_v2

    overrides = run_v2.RunJobRequest.Overrides(
        container_overrides=[
            run_v2.RunJobRequest.Overrides.ContainerOverride(
                env=[run_v2.EnvVar(name=k, value=v) for k, v in env.items()]
            )
        ],
        # One webhook is one model: a job deployed with several tasks (to share
        # `NUMERAI_MODEL_ID=all` between them) must not start idle twins here.
        task_count=1,
    )
    return run_v2.RunJobRequest(name=job_name, overrides=overrides)


def _named(execution: str, operation: str, job_name: str) -> str:
    if execution:
        return execution
    # Accepted but unnamed: record the operation rather than fail, since failing would
    # let Numerai's retry start a second execution.
    log.warning("RunJob for %s returned no execution name; using %s", job_name, operation)
    return operation


class ClientRunJob:
    """RunJob through ``JobsClient.run_job`` in a thread of ``executor``: the public
    path, and the fallback."""

    def __init__(self, client: run_v2.JobsClient, executor: Executor | None = None) -> None:
        self._client = client
        self._executor = executor

    async def __call__(self, job_name: str, env: Mapping[str, str], timeout: float) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.call, job_name, env, timeout)

    def call(self, job_name: str, env: Mapping[str, str], timeout: float) -> str:
        # retry=None: the library must not retry on its own; launch() decides what is
        # safe to retry. run_job returns once the API has accepted the run; never call
        # operation.result(), it waits for the whole execution.
        operation = self._client.run_job(
            request=run_job_request(job_name, env), timeout=timeout, retry=None
        )
        metadata = operation.metadata
        execution = getattr(metadata, "name", "") if metadata is not None else ""
        return _named(execution, operation.operation.name, job_name)

    async def close(self) -> None:
        """Nothing of its own: the client and the executor are closed by their owner."""


@dataclass(frozen=True)
class _Route:
    """One job's RunJob request as the client builds it, env values left as slots."""

    method: str  # e.g. "POST"
    # With the query (``$alt``) encoded as requests would encode the client's
    # ``params``: once here rather than on every call.
    url: str
    target: URL  # the same, sent as it is (yarl would turn %24 back into $)
    headers: dict[str, str]
    # The body's JSON cut at the env values: text, value slots[0], text, value slots[1], …
    texts: tuple[str, ...]
    slots: tuple[int, ...]

    def body(self, values: list[str]) -> str:
        # One pass over the template, so a value that looks like a slot stays text.
        out = [self.texts[0]]
        for slot, text in zip(self.slots, self.texts[1:], strict=True):
            # As MessageToJson escapes a string (json.dumps; see HttpRunJob.checked).
            out += (json.dumps(values[slot])[1:-1], text)
        return "".join(out)


@dataclass(frozen=True)
class _Answer:
    """What ``format_http_response_error`` reads of a response (``status_code``)."""

    status_code: int
    content: bytes


def _api_error(answer: _Answer, route: _Route) -> Exception:
    """The client's exception for an error answer (``from_http_response``'s steps, for
    an aiohttp response): ``NotFound``, ``ServiceUnavailable``, …"""
    from google.api_core import exceptions

    try:
        payload = json.loads(answer.content)
    except ValueError:
        payload = None
    if not isinstance(payload, dict | list):
        text = answer.content.decode("utf-8", "replace")
        payload = {"error": {"message": text or "unknown error"}}
    return exceptions.format_http_response_error(answer, route.method, route.url, payload)


class _Token:
    """The client's credentials on the event loop: ``apply`` puts the token on a
    request's headers, refreshing it first (once for every call waiting) when it is
    missing or about to expire. google-auth refreshes synchronously (the metadata server
    on Cloud Run), so the refresh runs in ``executor``."""

    def __init__(self, credentials: Any, executor: Executor | None) -> None:
        self._credentials = credentials
        self._executor = executor
        self._lock = asyncio.Lock()

    async def apply(self, headers: dict[str, str], *, refused: str | None = None) -> None:
        """Put the token on ``headers``; ``refused``: the token the API just refused
        with a 401, to be replaced whatever its expiry says."""
        credentials = self._credentials
        if not credentials.valid or (refused is not None and credentials.token == refused):
            async with self._lock:  # the first caller refreshes; the others find it done
                if not credentials.valid or (refused is not None and credentials.token == refused):
                    await asyncio.get_running_loop().run_in_executor(self._executor, self._refresh)
        credentials.apply(headers)

    @property
    def current(self) -> str | None:
        return self._credentials.token

    def _refresh(self) -> None:
        from google.auth.transport.requests import Request

        self._credentials.refresh(Request())


class HttpRunJob:
    """RunJob over aiohttp's client on the event loop, with the client's credentials and
    a request built once per job by the client's own code."""

    def __init__(self, parts: _ClientParts, session: aiohttp.ClientSession, token: _Token) -> None:
        self._parts = parts
        self._session = session
        self._token = token
        # By job and env names (in order); a route built twice is built the same.
        self._routes: dict[tuple[str, tuple[str, ...]], _Route] = {}

    @classmethod
    def from_client(
        cls,
        client: run_v2.JobsClient,
        probe_job: str,
        pool_size: int,
        executor: Executor | None = None,
    ) -> HttpRunJob | None:
        """The fast path, if this client release has the parts it uses and they build
        the client's own request for ``probe_job``; None otherwise. On the event loop."""
        parts = _ClientParts.find(client)
        return None if parts is None else cls.checked(parts, probe_job, pool_size, executor)

    @classmethod
    def checked(
        cls, parts: _ClientParts, probe_job: str, pool_size: int, executor: Executor | None = None
    ) -> HttpRunJob | None:
        """A runner on ``parts`` if its body for a value that needs every kind of JSON
        escaping is the client's, byte for byte; None (and a warning) otherwise."""
        probe = {name: _PROBE_VALUE for name in OVERRIDE_NAMES}
        try:
            ours = _route(parts, probe_job, OVERRIDE_NAMES).body(list(probe.values()))
            request = run_job_request(probe_job, probe)
            _, theirs, _ = parts.transcode(parts.http_options, request, rest_numeric_enums=True)
        except Exception as exc:  # a changed signature or rule: use the public path
            log.warning("RunJob fast path unavailable (%s: %s)", type(exc).__name__, exc)
            return None
        if ours != theirs:
            log.warning("RunJob fast path unavailable: its body differs from the client's")
            return None
        return cls(parts, parts.session(pool_size), _Token(parts.credentials, executor))

    async def __call__(self, job_name: str, env: Mapping[str, str], timeout: float) -> str:
        names = tuple(env)
        route = self._routes.get((job_name, names))
        if route is None:
            route = self._routes[(job_name, names)] = _route(self._parts, job_name, names)
        body = route.body(list(env.values())).encode()
        # sock_connect: a connection that cannot be made in time raises aiohttp's
        # ConnectionTimeoutError (nothing was sent: retried); any other overrun is a
        # plain TimeoutError (it may have been accepted: see cloudrun._ambiguous).
        limits = aiohttp.ClientTimeout(total=timeout, sock_connect=timeout)
        refused: str | None = None
        for refreshes in range(MAX_REFRESH_ATTEMPTS + 1):
            headers = dict(route.headers)
            await self._token.apply(headers, refused=refused)
            # No redirects and no retries of aiohttp's own: launch() decides what is
            # safe to retry.
            async with self._session.request(
                route.method,
                route.target,
                data=body,
                headers=headers,
                timeout=limits,
                allow_redirects=False,
            ) as response:
                status, content = response.status, await response.read()
            # A 401 was not processed: refresh the token and send again, as the
            # client's session does.
            if status != _UNAUTHORIZED or refreshes == MAX_REFRESH_ATTEMPTS:
                break
            refused = self._token.current
        if status >= 400:
            raise _api_error(_Answer(status, content), route)
        operation = json.loads(content)
        if not isinstance(operation, dict):
            raise ValueError(f"RunJob answered {type(operation).__name__}, not an Operation")
        execution = self._parts.execution_name(operation)
        return _named(execution, str(operation.get("name", "")), job_name)

    async def close(self) -> None:
        await self._session.close()


def _route(parts: _ClientParts, job_name: str, names: tuple[str, ...]) -> _Route:
    """The client's request for ``job_name`` with slots for the values of ``names``."""
    from google.api_core import rest_helpers
    from google.api_core.gapic_v1 import routing_header

    template = run_job_request(job_name, {k: _SLOT.format(i) for i, k in enumerate(names)})
    transcoded, body, query = parts.transcode(parts.http_options, template, rest_numeric_enums=True)
    metadata = [client_info().to_grpc_metadata()]
    match = _LOCATION.match(job_name)
    if match:
        metadata.append(routing_header.to_grpc_metadata({"location": match["location"]}))
    pieces = _SLOT_PATTERN.split(body or "")
    slots = tuple(int(slot) for slot in pieces[1::2])
    if sorted(slots) != list(range(len(names))):
        # Each value must land in the body exactly once, or a value would be lost.
        raise ValueError(f"the client's RunJob body does not carry the env values: {body}")
    params = rest_helpers.flatten_query_params(query, strict=True)
    url = f"{parts.host}{transcoded['uri']}?{urlencode(params, doseq=True)}"
    return _Route(
        method=transcoded["method"].upper(),
        url=url,
        target=URL(url, encoded=True),
        headers={
            # What the session adds to every request (requests' defaults: user agent,
            # Accept, Accept-Encoding, keep-alive), then the wrapped method's.
            **parts.session_headers,
            **dict(metadata),
            "Content-Type": "application/json",
        },
        texts=tuple(pieces[0::2]),
        slots=slots,
    )


@dataclass(frozen=True)
class _ClientParts:
    """The pieces of the client's REST transport that ``HttpRunJob`` reuses."""

    credentials: Any  # the session's: google.auth.credentials.Credentials
    session_headers: dict[str, str]
    host: str
    http_options: list[dict[str, str]]
    transcode: Callable[..., tuple[dict[str, Any], str, dict[str, Any]]]
    execution_type: str  # the Any type URL of an Execution

    def execution_name(self, operation: Mapping[str, Any]) -> str:
        """The Execution's name in the Operation's metadata; ``""`` if there is none.

        (The client's ``Operation.metadata`` raises on another type; an accepted run
        must not turn into an error, see ``_named``.)
        """
        metadata = operation.get("metadata")
        if not isinstance(metadata, dict) or metadata.get("@type") != self.execution_type:
            return ""
        name = metadata.get("name")
        return name if isinstance(name, str) else ""

    def session(self, pool_size: int) -> aiohttp.ClientSession:
        """An aiohttp session for the API: at most ``pool_size`` connections (one per
        launch the burst needs at once), TLS verified against certifi's roots (as
        requests does), no proxy from the environment (as the client's session, see
        cloudrun._size_connection_pool), and none of aiohttp's own default headers:
        the route carries the client's."""
        tls: ssl.SSLContext | bool = False  # plain HTTP: a local fake
        if self.host.startswith("https://"):
            import certifi

            # Loading the roots takes ~40 ms: once, here, not on every connection.
            tls = ssl.create_default_context(cafile=certifi.where())
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool_size, ssl=tls),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            trust_env=False,
        )

    @classmethod
    def find(cls, client: run_v2.JobsClient) -> _ClientParts | None:
        from google.cloud import run_v2
        from google.cloud.run_v2.services.jobs.transports import rest

        transport = client.transport
        session = getattr(transport, "_session", None)
        rule = getattr(getattr(rest.JobsRestTransport, "_RunJob", None), "_get_http_options", None)
        transcode = getattr(rest, "transcode_request", None)
        if not isinstance(transport, rest.JobsRestTransport) or None in (
            session,
            rule,
            transcode,
        ):
            log.warning(
                "the client's transport lacks what the fast RunJob path reuses (not REST, "
                "or a google-cloud-run release moved it): RunJob goes through "
                "JobsClient.run_job (correct, about 2 ms more CPU per webhook)"
            )
            return None
        if getattr(session, "is_mtls", False):
            # The client certificate lives in the session's adapter; keep to the session.
            log.warning("mutual TLS to the Cloud Run API: RunJob goes through JobsClient.run_job")
            return None
        assert rule is not None and transcode is not None
        return cls(
            credentials=session.credentials,
            session_headers=dict(session.headers),
            host=transport.host,
            http_options=rule(),
            transcode=transcode,
            execution_type=f"type.googleapis.com/{run_v2.Execution.pb().DESCRIPTOR.full_name}",
        )


def choose(
    client: run_v2.JobsClient, probe_job: str, pool_size: int, executor: Executor | None = None
) -> RunJob:
    """``HttpRunJob`` when this client release allows it, else ``ClientRunJob`` (whose
    calls, and the fast path's token refreshes, run in ``executor``). On the event loop."""
    fast = HttpRunJob.from_client(client, probe_job, pool_size, executor)
    return fast or ClientRunJob(client, executor)
