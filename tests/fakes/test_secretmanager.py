"""The Secret Manager fake, driven through the real google-cloud-secret-manager client."""

from __future__ import annotations

import time

import pytest
from google.api_core import exceptions, retry
from google.auth.credentials import AnonymousCredentials
from google.cloud import secretmanager

from fakes.secretmanager import FakeSecretManager, crc32c

PROJECT = "test-project"
SECRETS = {"numerai-public-id": "PUBLIC-ID-123", "numerai-secret": "s3cr3t-ünïcode"}


def name(secret: str, project: str = PROJECT, version: str = "latest") -> str:
    return f"projects/{project}/secrets/{secret}/versions/{version}"


@pytest.fixture
def fake():
    with FakeSecretManager(SECRETS, project=PROJECT) as server:
        yield server


@pytest.fixture
def client(fake):
    return secretmanager.SecretManagerServiceClient(
        transport="rest",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.url},
    )


def test_crc32c_matches_the_standard_check_value():
    # The CRC-32C check value from the Castagnoli/iSCSI specification (RFC 3720).
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


def test_access_latest_returns_payload_and_checksum(fake, client):
    response = client.access_secret_version(name=name("numerai-secret"))
    assert response.payload.data.decode() == SECRETS["numerai-secret"]
    assert response.payload.data_crc32c == crc32c(response.payload.data)
    assert response.name == f"projects/{PROJECT}/secrets/numerai-secret/versions/1"
    [request] = fake.requests
    assert request.path == f"/v1/{name('numerai-secret')}:access"
    assert request.status == 200


def test_project_number_in_names_and_requests():
    with FakeSecretManager(SECRETS, project=PROJECT, project_number="123456") as fake:
        client = secretmanager.SecretManagerServiceClient(
            transport="rest",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": fake.url},
        )
        by_id = client.access_secret_version(name=name("numerai-public-id"))
        by_number = client.access_secret_version(
            name=name("numerai-public-id", project="123456", version="1")
        )
    assert by_id.name == by_number.name == "projects/123456/secrets/numerai-public-id/versions/1"
    assert by_number.payload.data == b"PUBLIC-ID-123"


def test_regional_path_is_served(client):
    response = client.access_secret_version(
        name=f"projects/{PROJECT}/locations/europe-west1/secrets/numerai-secret/versions/latest"
    )
    assert response.payload.data.decode() == SECRETS["numerai-secret"]


def test_missing_secret_raises_not_found(fake, client):
    with pytest.raises(exceptions.NotFound, match="numerai-missing"):
        client.access_secret_version(name=name("numerai-missing"))
    with pytest.raises(exceptions.NotFound, match="versions/7"):
        client.access_secret_version(name=name("numerai-secret", version="7"))
    assert [r.status for r in fake.requests] == [404, 404]


def test_denied_secret_raises_forbidden(fake, client):
    # Over REST, HTTP 403 becomes api_core's Forbidden, which is NOT a subclass of
    # PermissionDenied (the gRPC mapping): callers must catch Forbidden.
    fake.deny("numerai-secret")
    with pytest.raises(exceptions.Forbidden, match=r"secretmanager\.versions\.access") as info:
        client.access_secret_version(name=name("numerai-secret"))
    assert not isinstance(info.value, exceptions.PermissionDenied)
    assert info.value.code == 403
    assert SECRETS["numerai-secret"] not in str(info.value)
    # Other secrets stay readable; another project is denied like the real API does.
    assert client.access_secret_version(name=name("numerai-public-id")).payload.data
    with pytest.raises(exceptions.Forbidden):
        client.access_secret_version(name=name("numerai-secret", project="other-project"))


def test_fail_next_without_retry_raises(fake, client):
    fake.fail_next(1, 503)
    with pytest.raises(exceptions.ServiceUnavailable):
        client.access_secret_version(name=name("numerai-secret"), retry=None)
    # The failure was used up: the next call succeeds.
    assert client.access_secret_version(name=name("numerai-secret"), retry=None).payload.data


def test_transient_failures_are_retried_by_a_retry_policy(fake, client):
    # The client's default policy retries 503/429 starting at 2 s; a caller passes its
    # own (here near-zero delays) to stay fast.
    fake.fail_next(2, 503)
    quick = retry.Retry(
        initial=0.01,
        maximum=0.05,
        timeout=5,
        predicate=retry.if_exception_type(exceptions.ServiceUnavailable),
    )
    started = time.monotonic()
    response = client.access_secret_version(name=name("numerai-public-id"), retry=quick)
    assert response.payload.data == b"PUBLIC-ID-123"
    assert time.monotonic() - started < 2
    assert [r.status for r in fake.requests] == [503, 503, 200]


def test_unknown_route_is_404(fake, client):
    import requests

    response = requests.get(f"{fake.url}/v1/projects/{PROJECT}/secrets", timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"
