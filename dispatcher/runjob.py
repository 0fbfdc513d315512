"""One RunJob call with the google-cloud-run client's request, without its per-call work.

``JobsClient.run_job`` spends ~2 ms of CPU per call (profiled), and most of it is
pure-Python protobuf work whose outcome hardly changes between webhooks:
proto-plus → protobuf → JSON (path transcoding, ``MessageToJson``) for a request that
differs from the last one only in four env values, then JSON → protobuf for the ~1.5 KB
``Operation`` whose ``Any`` metadata is a whole ``Execution`` (timestamps parsed with
``strptime``), wrapped in an ``Operation`` future, of which the dispatcher reads one
field: the execution's name. Half of what is left is requests' own per-call work
(settings and cookie merging, hooks, redirect handling, runtime ``Protocol`` checks):
0.6 of the 1.2 ms a call over the client's requests session costs (measured
sequentially against the fake, tests/bench). ``HttpRunJob`` sends the same HTTP request
through google-auth's urllib3 transport (``AuthorizedHttp``: the same credentials
attach the token and refresh it on a 401) and reads the one field it needs from the
answer with the standard library's JSON parser.

Taken from the client, once per job, with the client's own code: its credentials (the
scoped ones its session uses) and default host, its endpoint (``client_options``,
universe, mTLS resolution), the HTTP rule and ``transcode_request`` on a
``RunJobRequest`` whose env values are placeholders (each call fills in the values,
JSON-escaped as ``MessageToJson`` escapes them), the headers its session and wrapped
method add (``x-goog-api-client``, ``x-goog-request-params``, requests' defaults), and
its error mapping (``format_http_response_error``, so ``cloudrun._classify`` sees the
same API exceptions; transport errors are urllib3's, which ``_classify`` names too).
At start-up ``HttpRunJob.checked`` compares its body with the client's for a value that
needs every kind of escaping, and tests/dispatcher/test_runjob.py compares the whole
request, as the server receives it, with what ``JobsClient.run_job`` sends.

Private parts of the client used (a release may move them): ``transport._session``,
``JobsRestTransport._RunJob._get_http_options`` and the transport module's
``transcode_request``. If one is missing, the session is mutual TLS, google-auth's urllib3
transport cannot be imported (its extra, ``google-auth[urllib3]``), or the check fails,
``choose`` falls back to ``ClientRunJob``, the plain ``JobsClient.run_job`` path (correct,
~1.7 ms more CPU per webhook), and logs a warning; the tests fail loudly instead.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from common.contract import OVERRIDE_NAMES

if TYPE_CHECKING:
    from google.api_core.gapic_v1.client_info import ClientInfo
    from google.auth.transport.urllib3 import AuthorizedHttp
    from google.cloud import run_v2

log = logging.getLogger(__name__)


class RunJob(Protocol):
    def __call__(self, job_name: str, env: Mapping[str, str], timeout: float) -> str:
        """Start an execution of ``job_name`` with ``env``; its resource name."""
        ...

    def close(self) -> None:
        """Release what the runner holds beyond the client (connections)."""
        ...


# The location in a job's resource name: what JobsClient.run_job routes on.
_LOCATION = re.compile(r"^projects/[^/]+/locations/(?P<location>[^/]+)(?:/.*)?$")
# Stands for the i-th env value in the body template; no such text occurs in the JSON
# the client makes of the rest of the request (field and variable names only).
_SLOT = "@@numerai-slot-{}@@"
_SLOT_PATTERN = re.compile(r"@@numerai-slot-(\d+)@@")
# A value that needs every kind of JSON escaping (see SessionRunJob.checked).
_PROBE_VALUE = 'q"b\\s/ é✓😀\n\t\x01 </x> @@numerai-slot-0@@'


def client_info() -> ClientInfo:
    """The ``ClientInfo`` the client is built with (its own default, named here so the
    ``x-goog-api-client`` header ``SessionRunJob`` sends is the client's)."""
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
    """RunJob through ``JobsClient.run_job``: the public path, and the fallback."""

    def __init__(self, client: run_v2.JobsClient) -> None:
        self._client = client

    def __call__(self, job_name: str, env: Mapping[str, str], timeout: float) -> str:
        # retry=None: the library must not retry on its own; launch() decides what is
        # safe to retry. run_job returns once the API has accepted the run; never call
        # operation.result(), it waits for the whole execution.
        operation = self._client.run_job(
            request=run_job_request(job_name, env), timeout=timeout, retry=None
        )
        metadata = operation.metadata
        execution = getattr(metadata, "name", "") if metadata is not None else ""
        return _named(execution, operation.operation.name, job_name)

    def close(self) -> None:
        """Nothing of its own: the client is closed by whoever made it."""


@dataclass(frozen=True)
class _Route:
    """One job's RunJob request as the client builds it, env values left as slots."""

    method: str  # e.g. "POST"
    # With the query (``$alt``) encoded as requests would encode the client's
    # ``params``: once here rather than on every call.
    url: str
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
    a urllib3 response): ``NotFound``, ``ServiceUnavailable``, …"""
    from google.api_core import exceptions

    try:
        payload = json.loads(answer.content)
    except ValueError:
        payload = None
    if not isinstance(payload, dict | list):
        text = answer.content.decode("utf-8", "replace")
        payload = {"error": {"message": text or "unknown error"}}
    return exceptions.format_http_response_error(answer, route.method, route.url, payload)


class HttpRunJob:
    """RunJob through google-auth's urllib3 transport, with the client's credentials and
    a request built once per job by the client's own code."""

    def __init__(self, parts: _ClientParts, http: AuthorizedHttp) -> None:
        self._parts = parts
        self._http = http
        # By job and env names (in order); pool threads may fill it concurrently, and a
        # route built twice is built the same.
        self._routes: dict[tuple[str, tuple[str, ...]], _Route] = {}

    @classmethod
    def from_client(
        cls, client: run_v2.JobsClient, probe_job: str, pool_size: int
    ) -> HttpRunJob | None:
        """The fast path, if this client release has the parts it uses and they build
        the client's own request for ``probe_job``; None otherwise."""
        parts = _ClientParts.find(client)
        return None if parts is None else cls.checked(parts, probe_job, pool_size)

    @classmethod
    def checked(cls, parts: _ClientParts, probe_job: str, pool_size: int) -> HttpRunJob | None:
        """A runner on ``parts`` if its body for a value that needs every kind of JSON
        escaping is the client's, byte for byte; None (and a warning) otherwise."""
        try:
            http = parts.authorized_http(pool_size)
        except ImportError as exc:  # google-auth without its urllib3 extra (packaging)
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning(
                "RunJob fast path unavailable (%s): RunJob goes through JobsClient.run_job", reason
            )
            return None
        runner = cls(parts, http)
        probe = {name: _PROBE_VALUE for name in OVERRIDE_NAMES}
        try:
            ours = runner._route(probe_job, OVERRIDE_NAMES).body(list(probe.values()))
            request = run_job_request(probe_job, probe)
            _, theirs, _ = parts.transcode(parts.http_options, request, rest_numeric_enums=True)
        except Exception as exc:  # a changed signature or rule: use the public path
            log.warning("RunJob fast path unavailable (%s: %s)", type(exc).__name__, exc)
            runner.close()
            return None
        if ours != theirs:
            log.warning("RunJob fast path unavailable: its body differs from the client's")
            runner.close()
            return None
        return runner

    def __call__(self, job_name: str, env: Mapping[str, str], timeout: float) -> str:
        names = tuple(env)
        route = self._routes.get((job_name, names)) or self._route(job_name, names)
        # retries=False: no retry and no redirect of urllib3's own (launch() decides what
        # is safe to retry); its errors come as they are (ReadTimeoutError, …).
        response = self._http.urlopen(
            route.method,
            route.url,
            body=route.body(list(env.values())).encode(),
            headers=route.headers,
            timeout=timeout,
            retries=False,
        )
        if response.status >= 400:
            raise _api_error(_Answer(response.status, response.data), route)
        operation = json.loads(response.data)
        if not isinstance(operation, dict):
            raise ValueError(f"RunJob answered {type(operation).__name__}, not an Operation")
        execution = self._parts.execution_name(operation)
        return _named(execution, str(operation.get("name", "")), job_name)

    def close(self) -> None:
        self._http.http.clear()

    def _route(self, job_name: str, names: tuple[str, ...]) -> _Route:
        from google.api_core import rest_helpers
        from google.api_core.gapic_v1 import routing_header

        template = run_job_request(job_name, {k: _SLOT.format(i) for i, k in enumerate(names)})
        transcoded, body, query = self._parts.transcode(
            self._parts.http_options, template, rest_numeric_enums=True
        )
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
        route = _Route(
            method=transcoded["method"].upper(),
            url=f"{self._parts.host}{transcoded['uri']}?{urlencode(params, doseq=True)}",
            headers={
                # What the session adds to every request (requests' defaults: user agent,
                # Accept, Accept-Encoding, keep-alive), then the wrapped method's.
                **self._parts.session_headers,
                **dict(metadata),
                "Content-Type": "application/json",
            },
            texts=tuple(pieces[0::2]),
            slots=slots,
        )
        self._routes[(job_name, names)] = route
        return route


@dataclass(frozen=True)
class _ClientParts:
    """The pieces of the client's REST transport that ``HttpRunJob`` reuses."""

    credentials: Any  # the session's: google.auth.credentials.Credentials
    default_host: str  # for service-account credentials' self-signed JWT audience
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

    def authorized_http(self, pool_size: int) -> AuthorizedHttp:
        """google-auth's urllib3 transport on these credentials: one pooled connection
        per launch thread, TLS verified against certifi's roots (as requests does)."""
        import certifi
        import urllib3
        from google.auth.transport.urllib3 import AuthorizedHttp

        pool = urllib3.PoolManager(
            maxsize=pool_size, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where()
        )
        return AuthorizedHttp(self.credentials, http=pool, default_host=self.default_host)

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
                "JobsClient.run_job (correct, about 1.7 ms more CPU per webhook)"
            )
            return None
        if getattr(session, "is_mtls", False):
            # The client certificate lives in the session's adapter; keep to the session.
            log.warning("mutual TLS to the Cloud Run API: RunJob goes through JobsClient.run_job")
            return None
        assert rule is not None and transcode is not None
        return cls(
            credentials=session.credentials,
            default_host=transport.DEFAULT_HOST,
            session_headers=dict(session.headers),
            host=transport.host,
            http_options=rule(),
            transcode=transcode,
            execution_type=f"type.googleapis.com/{run_v2.Execution.pb().DESCRIPTOR.full_name}",
        )


def choose(client: run_v2.JobsClient, probe_job: str, pool_size: int) -> RunJob:
    """``HttpRunJob`` when this client release allows it, else ``ClientRunJob``."""
    return HttpRunJob.from_client(client, probe_job, pool_size) or ClientRunJob(client)
