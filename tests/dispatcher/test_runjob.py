"""dispatcher.runjob: the fast RunJob path sends what JobsClient.run_job sends.

These tests are the tripwire for a google-cloud-run upgrade: they fail loudly when the
client's REST transport changes what the fast path copies from it.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from google.api_core import exceptions

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


def _capture(client: Any) -> list[requests.PreparedRequest]:
    """Every request the client's session sends, as sent (a requests response hook)."""
    sent: list[requests.PreparedRequest] = []
    client.transport._session.hooks["response"].append(
        lambda response, *args, **kwargs: sent.append(response.request)
    )
    return sent


def test_the_installed_client_gets_the_fast_path(client) -> None:
    # Fails on a google-cloud-run release that moved what SessionRunJob reuses.
    assert isinstance(runjob.choose(client, JOB), runjob.SessionRunJob)


def test_fast_path_sends_exactly_what_the_client_sends(client, fake_cloud_run) -> None:
    sent = _capture(client)
    via_client = runjob.ClientRunJob(client)(JOB, ENV, 5.0)
    fast = runjob.SessionRunJob.from_client(client, JOB)
    assert fast is not None
    via_session = fast(JOB, ENV, 5.0)

    reference, ours = sent
    assert (ours.method, ours.url) == (reference.method, reference.url)
    assert ours.url.endswith(f"/v2/{JOB}:run?%24alt=json%3Benum-encoding%3Dint")
    assert dict(ours.headers) == dict(reference.headers)
    assert ours.headers["x-goog-request-params"] == f"location={REGION}"
    assert ours.headers["x-goog-api-client"] == reference.headers["x-goog-api-client"]
    assert ours.body == reference.body  # byte for byte, escaping included
    # Both runs reached the fake with the values intact, and both names are theirs.
    first, second = fake_cloud_run.runs
    assert first.env == second.env == ENV
    assert (via_client, via_session) == (first.execution_name, second.execution_name)


def test_fast_path_raises_the_clients_errors(client, fake_cloud_run) -> None:
    fast = runjob.choose(client, JOB)
    fake_cloud_run.fail_next(1, status=503)
    with pytest.raises(exceptions.ServiceUnavailable):
        fast(JOB, ENV, 5.0)
    with pytest.raises(exceptions.NotFound, match="'gone' of kind 'JOB'"):
        fast(JOB.replace("numerai-job", "gone"), ENV, 5.0)
    assert fake_cloud_run.runs == []


def test_a_job_name_the_client_cannot_route_falls_back_to_the_client(client) -> None:
    # The probe route fails as it would if a client release changed the HTTP rule.
    assert isinstance(runjob.choose(client, "not/a/job"), runjob.ClientRunJob)


def _parts(client: Any) -> Any:
    parts = runjob._ClientParts.find(client)
    assert parts is not None
    return parts


def test_a_body_rendered_otherwise_than_the_client_does_is_refused(client, caplog) -> None:
    # A client release that escapes strings differently (here: non-ASCII left as is).
    parts = _parts(client)

    def transcode_unescaped(*args: Any, **kwargs: Any) -> Any:
        transcoded, body, query = parts.transcode(*args, **kwargs)
        return transcoded, json.dumps(json.loads(body), indent=2, ensure_ascii=False), query

    changed = dataclasses.replace(parts, transcode=transcode_unescaped)
    with caplog.at_level("WARNING", logger="dispatcher.runjob"):
        assert runjob.SessionRunJob.checked(changed, JOB) is None
    assert "its body differs from the client's" in caplog.text
    assert runjob.SessionRunJob.checked(parts, JOB) is not None


def test_a_rule_that_moves_the_env_out_of_the_body_is_refused(client, caplog) -> None:
    # A client release whose RunJob rule has no body: the values would go elsewhere.
    parts = _parts(client)
    rule = [{"method": "post", "uri": "/v2/{name=projects/*/locations/*/jobs/*}:run"}]
    changed = dataclasses.replace(parts, http_options=rule)
    with caplog.at_level("WARNING", logger="dispatcher.runjob"):
        assert runjob.SessionRunJob.checked(changed, JOB) is None
    assert "does not carry the env values" in caplog.text


def test_a_non_rest_transport_falls_back_to_the_client(caplog) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import run_v2

    # Loopback endpoint: a gRPC channel connects only when called, and this one never is.
    grpc_client = run_v2.JobsClient(
        transport="grpc",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": "127.0.0.1:9"},
    )
    with caplog.at_level("WARNING", logger="dispatcher.runjob"):
        assert isinstance(runjob.choose(grpc_client, JOB), runjob.ClientRunJob)
    assert "RunJob goes through JobsClient.run_job" in caplog.text


class _CannedApi:
    """Answers every request with one fixed 200 JSON body (answers the fake never gives)."""

    def __init__(self, payload: Any) -> None:
        body = json.dumps(payload).encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canned() -> Iterator[Any]:
    """A client of an API that answers with the given payload."""
    servers: list[_CannedApi] = []
    clients: list[Any] = []

    def start(payload: Any) -> Any:
        servers.append(_CannedApi(payload))
        clients.append(_client(servers[-1].url))
        return clients[-1]

    yield start
    for client in clients:
        client.transport.close()
    for server in servers:
        server.close()


OPERATION = f"projects/{PROJECT}/locations/{REGION}/operations/op-1"


@pytest.mark.parametrize(
    "metadata",
    [
        None,  # no metadata at all
        {"@type": "type.googleapis.com/google.protobuf.Empty"},  # not an Execution
        {"@type": EXECUTION_TYPE_URL, "uid": "x"},  # an Execution without a name
    ],
)
def test_an_accepted_run_without_an_execution_name_is_the_operation(
    canned, caplog, metadata
) -> None:
    payload = {"name": OPERATION, "done": False}
    if metadata is not None:
        payload["metadata"] = metadata
    fast = runjob.choose(canned(payload), JOB)
    with caplog.at_level("WARNING", logger="dispatcher.runjob"):
        assert fast(JOB, ENV, 5.0) == OPERATION
    assert "returned no execution name" in caplog.text


def test_the_client_path_also_answers_the_operation_when_unnamed(canned) -> None:
    client = canned({"name": OPERATION, "done": False})
    assert runjob.ClientRunJob(client)(JOB, ENV, 5.0) == OPERATION


@pytest.mark.parametrize("payload", [[], "ok", 3])
def test_an_answer_that_is_not_an_operation_is_an_error(canned, payload) -> None:
    fast = runjob.choose(canned(payload), JOB)
    with pytest.raises(ValueError, match="not an Operation"):
        fast(JOB, ENV, 5.0)
