"""dispatcher.runjob: the fast RunJob path sends what JobsClient.run_job sends.

These tests are the tripwire for a google-cloud-run upgrade: they fail loudly when the
client's REST transport changes what the fast path copies from it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp
import pytest
import requests
from google.api_core import exceptions
from google.auth import credentials

from dispatcher import cloudrun, runjob
from dispatcher.settings import CloudRunSettings
from fakes.cloudrun import FakeCloudRun
from fakes.cloudrun.v2 import EXECUTION_TYPE_URL
from tests.dispatcher.conftest import MODEL_ID, PROJECT, REGION

JOB = f"projects/{PROJECT}/locations/{REGION}/jobs/numerai-job"
# JSON's special characters, non-ASCII, and text that looks like a body slot.
AWKWARD_TRIGGER = 'tr"ig\\ger é✓ @@numerai-slot-0@@ </x>'
ENV = {
    "NUMERAI_MODEL_ID": MODEL_ID,
    "NUMERAI_ROUND": "842",
    "TRIGGER_ID": AWKWARD_TRIGGER,
    "NUMERAI_IS_TEST": "false",
}


def _client(url: str) -> Any:
    return cloudrun._make_client(CloudRunSettings(project=PROJECT, region=REGION, api_endpoint=url))


@pytest.fixture
def client(fake_cloud_run: FakeCloudRun) -> Iterator[Any]:
    client = _client(fake_cloud_run.url)
    yield client
    client.transport.close()


# The pool size the launcher gives the fast path (one connection per launch thread).
POOL = cloudrun.HTTP_POOL_SIZE


async def test_the_installed_client_gets_the_fast_path(client) -> None:
    # Fails on a google-cloud-run release that moved what HttpRunJob reuses.
    fast = runjob.choose(client, JOB, POOL)
    assert isinstance(fast, runjob.HttpRunJob)
    await fast.close()


async def test_both_paths_start_the_run_with_the_values_intact(client, fake_cloud_run) -> None:
    via_client = await runjob.ClientRunJob(client)(JOB, ENV, 5.0)
    fast = runjob.HttpRunJob.from_client(client, JOB, POOL)
    assert fast is not None
    via_fast = await fast(JOB, ENV, 5.0)
    await fast.close()
    first, second = fake_cloud_run.runs
    assert first.env == second.env == ENV
    assert (via_client, via_fast) == (first.execution_name, second.execution_name)


async def test_fast_path_sends_exactly_what_the_client_sends(canned) -> None:
    # As the server receives them: request line, every header, the body byte for byte.
    api = canned(ACCEPTED)
    await runjob.ClientRunJob(api.client)(JOB, ENV, 5.0)
    fast = runjob.choose(api.client, JOB, POOL)
    assert isinstance(fast, runjob.HttpRunJob)
    await fast(JOB, ENV, 5.0)
    await fast.close()

    reference, ours = api.received
    assert ours.target.endswith(f"/v2/{JOB}:run?%24alt=json%3Benum-encoding%3Dint")
    assert (ours.method, ours.target) == (reference.method, reference.target)
    assert ours.headers == reference.headers
    assert ours.headers["x-goog-request-params"] == f"location={REGION}"
    assert ours.headers["x-goog-api-client"].startswith("gl-python/")
    assert ours.body == reference.body  # escaping included
    assert json.loads(ours.body)["overrides"]["containerOverrides"][0]["env"] == [
        {"name": k, "value": v} for k, v in ENV.items()
    ]


async def test_fast_path_raises_the_clients_errors(client, fake_cloud_run) -> None:
    fast = runjob.choose(client, JOB, POOL)
    fake_cloud_run.fail_next(1, status=503)
    with pytest.raises(exceptions.ServiceUnavailable):
        await fast(JOB, ENV, 5.0)
    with pytest.raises(exceptions.NotFound, match="'gone' of kind 'JOB'"):
        await fast(JOB.replace("numerai-job", "gone"), ENV, 5.0)
    assert fake_cloud_run.runs == []
    await fast.close()


async def test_a_job_name_the_client_cannot_route_falls_back_to_the_client(client) -> None:
    # The probe route fails as it would if a client release changed the HTTP rule.
    assert isinstance(runjob.choose(client, "not/a/job", POOL), runjob.ClientRunJob)


def _parts(client: Any) -> Any:
    parts = runjob._ClientParts.find(client)
    assert parts is not None
    return parts


async def test_a_body_rendered_otherwise_than_the_client_does_is_refused(client, caplog) -> None:
    # A client release that escapes strings differently (here: non-ASCII left as is).
    parts = _parts(client)

    def transcode_unescaped(*args: Any, **kwargs: Any) -> Any:
        transcoded, body, query = parts.transcode(*args, **kwargs)
        return transcoded, json.dumps(json.loads(body), indent=2, ensure_ascii=False), query

    changed = dataclasses.replace(parts, transcode=transcode_unescaped)
    with caplog.at_level("WARNING", logger="dispatcher.runjob"):
        assert runjob.HttpRunJob.checked(changed, JOB, POOL) is None
    assert "its body differs from the client's" in caplog.text
    fast = runjob.HttpRunJob.checked(parts, JOB, POOL)
    assert fast is not None
    await fast.close()


async def test_a_rule_that_moves_the_env_out_of_the_body_is_refused(client, caplog) -> None:
    # A client release whose RunJob rule has no body: the values would go elsewhere.
    parts = _parts(client)
    rule = [{"method": "post", "uri": "/v2/{name=projects/*/locations/*/jobs/*}:run"}]
    changed = dataclasses.replace(parts, http_options=rule)
    with caplog.at_level("WARNING", logger="dispatcher.runjob"):
        assert runjob.HttpRunJob.checked(changed, JOB, POOL) is None
    assert "does not carry the env values" in caplog.text


async def test_a_non_rest_transport_falls_back_to_the_client(caplog) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import run_v2

    # Loopback endpoint: a gRPC channel connects only when called, and this one never is.
    grpc_client = run_v2.JobsClient(
        transport="grpc",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": "127.0.0.1:9"},
    )
    with caplog.at_level("WARNING", logger="dispatcher.runjob"):
        assert isinstance(runjob.choose(grpc_client, JOB, POOL), runjob.ClientRunJob)
    assert "RunJob goes through JobsClient.run_job" in caplog.text


@dataclasses.dataclass(frozen=True)
class _Received:
    method: str
    target: str  # path and query, as on the request line
    headers: dict[str, str]  # names lower-cased
    body: bytes


# A scripted answer that closes the connection instead of answering.
DROP = (0, b"")


class _CannedApi:
    """Answers every request with one fixed 200 JSON body (answers the fake never gives),
    after the scripted ``first`` answers (status, raw body); keeps each request as it
    arrived. ``.client`` is a client of it, with ``credentials`` if given."""

    def __init__(
        self,
        payload: Any,
        first: list[tuple[int, bytes]] | None = None,
        credentials: Any = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        ok = json.dumps(payload).encode()
        script = list(first or [])
        received: list[_Received] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                sent = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                received.append(_Received(self.command, self.path, headers, sent))
                status, body = script.pop(0) if script else (200, ok)
                if (status, body) == DROP:
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        if credentials is None:
            self.client = _client(self.url)
        else:
            from google.cloud import run_v2

            options = {"api_endpoint": self.url}
            self.client = run_v2.JobsClient(
                transport="rest", credentials=credentials, client_options=options
            )

    def close(self) -> None:
        self.client.transport.close()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canned() -> Iterator[Any]:
    """An API that answers with the given payload, with a client of it (``.client``)."""
    servers: list[_CannedApi] = []

    def start(payload: Any, **options: Any) -> _CannedApi:
        servers.append(_CannedApi(payload, **options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


OPERATION = f"projects/{PROJECT}/locations/{REGION}/operations/op-1"
# An accepted run: the Operation whose metadata is the Execution, named.
ACCEPTED = {"name": OPERATION, "metadata": {"@type": EXECUTION_TYPE_URL, "name": f"{JOB}/e-1"}}


@pytest.mark.parametrize(
    "metadata",
    [
        None,  # no metadata at all
        {"@type": "type.googleapis.com/google.protobuf.Empty"},  # not an Execution
        {"@type": EXECUTION_TYPE_URL, "uid": "x"},  # an Execution without a name
    ],
)
async def test_an_accepted_run_without_an_execution_name_is_the_operation(
    canned, caplog, metadata
) -> None:
    payload = {"name": OPERATION, "done": False}
    if metadata is not None:
        payload["metadata"] = metadata
    fast = runjob.choose(canned(payload).client, JOB, POOL)
    with caplog.at_level("WARNING", logger="dispatcher.runjob"):
        assert await fast(JOB, ENV, 5.0) == OPERATION
    await fast.close()
    assert "returned no execution name" in caplog.text


async def test_the_client_path_also_answers_the_operation_when_unnamed(canned) -> None:
    client = canned({"name": OPERATION, "done": False}).client
    assert await runjob.ClientRunJob(client)(JOB, ENV, 5.0) == OPERATION


@pytest.mark.parametrize("payload", [[], "ok", 3])
async def test_an_answer_that_is_not_an_operation_is_an_error(canned, payload) -> None:
    fast = runjob.choose(canned(payload).client, JOB, POOL)
    with pytest.raises(ValueError, match="not an Operation"):
        await fast(JOB, ENV, 5.0)
    await fast.close()


async def test_an_error_answer_that_is_not_json_is_the_clients_error(canned) -> None:
    # A front end's HTML page, not the API's JSON error: the same exception and message.
    page = (502, b"<html>502 Bad Gateway</html>")
    api = canned(ACCEPTED, first=[page, page])
    with pytest.raises(exceptions.BadGateway) as by_client:
        await runjob.ClientRunJob(api.client)(JOB, ENV, 5.0)
    fast = runjob.choose(api.client, JOB, POOL)
    with pytest.raises(exceptions.BadGateway) as by_fast:
        await fast(JOB, ENV, 5.0)
    await fast.close()
    assert str(by_fast.value) == str(by_client.value)
    assert "502 Bad Gateway" in str(by_fast.value)


class _CountingCredentials(credentials.Credentials):
    """google-auth credentials whose every refresh yields a new token: t1, t2, …"""

    def __init__(self, *, fetched: bool = True) -> None:
        super().__init__()
        self.token = "t0" if fetched else None
        self.refreshes = 0

    def refresh(self, request: Any) -> None:
        self.refreshes += 1
        self.token = f"t{self.refreshes}"


async def test_a_401_refreshes_the_token_and_sends_again(canned) -> None:
    # As the client's session does: the expired token is refreshed and the call repeated.
    creds = _CountingCredentials()
    refused = (401, json.dumps({"error": {"code": 401, "message": "expired"}}).encode())
    api = canned(ACCEPTED, first=[refused], credentials=creds)
    fast = runjob.choose(api.client, JOB, POOL)
    assert isinstance(fast, runjob.HttpRunJob)
    assert await fast(JOB, ENV, 5.0) == f"{JOB}/e-1"
    await fast.close()
    assert [r.headers["authorization"] for r in api.received] == ["Bearer t0", "Bearer t1"]
    assert creds.refreshes == 1


async def test_a_mutual_tls_session_keeps_to_the_client(canned, caplog) -> None:
    # The client certificate is in the session's adapter, which the fast path bypasses.
    client = canned(ACCEPTED).client
    client.transport._session._is_mtls = True
    with caplog.at_level("WARNING", logger="dispatcher.runjob"):
        assert isinstance(runjob.choose(client, JOB, POOL), runjob.ClientRunJob)
    assert "mutual TLS" in caplog.text


def assert_unreachable_and_retried(exc: BaseException) -> None:
    """Nothing reached the API: a transient error the launcher retries, not ambiguous."""
    classified = cloudrun._classify(exc)
    assert classified is not None
    error, retry = classified
    assert (error.transient, retry) == (True, True)
    assert "cannot reach the Cloud Run API" in error.reason
    assert not cloudrun._ambiguous(exc)


async def test_a_dropped_connection_is_retried(canned) -> None:
    # aiohttp's errors, as the fast path raises them, classified as requests' would be.
    api = canned(ACCEPTED, first=[DROP])
    fast = runjob.choose(api.client, JOB, POOL)
    with pytest.raises(Exception) as dropped:
        await fast(JOB, ENV, 5.0)
    assert_unreachable_and_retried(dropped.value)
    await fast.close()


async def test_a_read_timeout_is_ambiguous_and_not_retried(fake_cloud_run, client) -> None:
    fast = runjob.choose(client, JOB, POOL)
    fake_cloud_run.hang_next(1, seconds=1.0)
    with pytest.raises(Exception) as timed_out:
        await fast(JOB, ENV, 0.2)
    await fast.close()
    classified = cloudrun._classify(timed_out.value)
    assert classified is not None
    error, retry = classified
    assert (error.transient, retry) == (True, False)
    assert "did not answer in time" in error.reason
    assert cloudrun._ambiguous(timed_out.value)


async def test_a_missing_token_is_fetched_once_for_calls_at_once(canned) -> None:
    # The first webhooks after start-up: one refresh (in a thread), every call waits for it.
    creds = _CountingCredentials(fetched=False)
    api = canned(ACCEPTED, credentials=creds)
    fast = runjob.choose(api.client, JOB, POOL)
    assert isinstance(fast, runjob.HttpRunJob)
    names = await asyncio.gather(*(fast(JOB, ENV, 5.0) for _ in range(5)))
    await fast.close()
    assert names == [f"{JOB}/e-1"] * 5
    assert creds.refreshes == 1
    assert {r.headers["authorization"] for r in api.received} == {"Bearer t1"}


async def test_an_expired_token_is_refreshed_before_sending(canned) -> None:
    creds = _CountingCredentials()
    creds.expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=1)
    api = canned(ACCEPTED, credentials=creds)
    fast = runjob.choose(api.client, JOB, POOL)
    await fast(JOB, ENV, 5.0)
    await fast.close()
    assert [r.headers["authorization"] for r in api.received] == ["Bearer t1"]


async def test_a_token_the_api_keeps_refusing_ends_in_its_error(canned) -> None:
    # Two refreshes at most, as the client's session allows; then the API's 401.
    creds = _CountingCredentials()
    refused = (401, json.dumps({"error": {"code": 401, "message": "expired"}}).encode())
    api = canned(ACCEPTED, first=[refused] * 3, credentials=creds)
    fast = runjob.choose(api.client, JOB, POOL)
    with pytest.raises(exceptions.Unauthorized, match="expired"):
        await fast(JOB, ENV, 5.0)
    await fast.close()
    assert creds.refreshes == runjob.MAX_REFRESH_ATTEMPTS
    assert len(api.received) == runjob.MAX_REFRESH_ATTEMPTS + 1


async def test_a_refused_connection_is_retried_and_not_ambiguous() -> None:
    # Nothing listens on the port: nothing was sent, so the launcher may send again.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    client = _client(closed)
    fast = runjob.choose(client, JOB, POOL)
    with pytest.raises(Exception) as refused:
        await fast(JOB, ENV, 5.0)
    await fast.close()
    client.transport.close()
    assert_unreachable_and_retried(refused.value)


def test_connect_timeouts_are_unreachable_and_other_timeouts_no_answer() -> None:
    # Both libraries' connect timeouts are also their timeouts: nothing was sent, retry.
    import aiohttp
    import requests

    for connect in (aiohttp.ConnectionTimeoutError(), requests.ConnectTimeout()):
        classified = cloudrun._classify(connect)
        assert classified is not None and classified[1] is True, connect
        assert not cloudrun._ambiguous(connect)
    for no_answer in (aiohttp.SocketTimeoutError(), TimeoutError(), requests.ReadTimeout()):
        classified = cloudrun._classify(no_answer)
        assert classified is not None, no_answer
        assert "did not answer in time" in classified[0].reason
        assert classified[1] is False
        assert cloudrun._ambiguous(no_answer)


def _self_signed(folder: Any) -> ssl.SSLContext:
    """A server TLS context with a certificate for 127.0.0.1 that no public root signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    pem = folder / "server.pem"
    pem.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    return context


async def test_the_apis_certificate_is_verified(canned, tmp_path) -> None:
    # A certificate no root in certifi signed is refused before anything is sent, as the
    # client's session refuses it: not the API, so nothing may be launched there.
    api = canned(ACCEPTED, tls=_self_signed(tmp_path))
    fast = runjob.choose(api.client, JOB, POOL)
    assert isinstance(fast, runjob.HttpRunJob)
    with pytest.raises(aiohttp.ClientConnectorCertificateError) as refused:
        await fast(JOB, ENV, 5.0)
    await fast.close()
    with pytest.raises(requests.exceptions.SSLError):
        await runjob.ClientRunJob(api.client)(JOB, ENV, 5.0)
    assert api.received == []
    classified = cloudrun._classify(refused.value)
    assert classified is not None
    assert "cannot reach the Cloud Run API" in classified[0].reason
