"""ops.numerai: the account's keys (environment, else the project's secrets through the
recording gcloud) and the numerapi client, which talks to the fake Numerai for real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numerapi
import pytest

from fakes.numerai import FakeNumerai
from local.sandbox import free_port
from numerai_data import DEFAULT_REQUEST_TIMEOUT
from numerai_data.client import CONNECT_TIMEOUT, NumeraiClient, NumeraiError
from ops.gcloud import Gcloud, GcloudError
from ops.numerai import NumeraiKeys, numerai_client, numerai_keys
from ops.settings import ConfigError, OpsSettings, load_settings
from tests.deploy.conftest import PROJECT, PUBLIC_ID, REGION, REPO, SECRET_KEY, FakeGcloud
from tests.job.support import _restore_numerapi_url  # noqa: F401

MODEL_ID = "5f1a7c2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
SERVICE_URL = "https://numerai-dispatcher-abc123-ew.a.run.app"


def _settings() -> OpsSettings:
    return load_settings({"PROJECT": PROJECT, "REGION": REGION}, {}, lambda _key: None)


@pytest.fixture
def g(gcloud: FakeGcloud, monkeypatch: pytest.MonkeyPatch) -> Gcloud:
    """ops' gcloud runner, running the recording stand-in (state and log from the env)."""
    for key in ("FAKE_GCLOUD_LOG", "FAKE_GCLOUD_STATE"):
        monkeypatch.setenv(key, gcloud.env()[key])
    gcloud.update(secrets={"numerai-public-id": [PUBLIC_ID], "numerai-secret": [SECRET_KEY]})
    return Gcloud(dry_run=False, out=sys.stderr, executable=str(gcloud.bin / "gcloud"))


def _reads(gcloud: FakeGcloud) -> list[str]:
    return [a[4] for a in gcloud.argvs() if a[:3] == ["secrets", "versions", "access"]]


def test_keys_in_the_environment_read_no_secret(g: Gcloud, gcloud: FakeGcloud) -> None:
    environ = {"NUMERAI_PUBLIC_ID": " env-public ", "NUMERAI_SECRET_KEY": "env-secret"}
    keys = numerai_keys(_settings(), g, environ)
    assert keys == NumeraiKeys("env-public", "env-secret")
    assert gcloud.calls() == []
    assert "env-secret" not in repr(keys) and "env-public" not in repr(keys)


def test_a_key_missing_from_the_environment_comes_from_its_secret(
    g: Gcloud, gcloud: FakeGcloud
) -> None:
    keys = numerai_keys(_settings(), g, {"NUMERAI_PUBLIC_ID": "env-public"})
    assert keys == NumeraiKeys("env-public", SECRET_KEY)
    assert _reads(gcloud) == ["--secret=numerai-secret"]


@pytest.mark.parametrize(
    ("empty", "named", "not_named"),
    [
        (
            ("numerai-secret",),
            ["NUMERAI_SECRET_KEY", "secret numerai-secret "],
            "NUMERAI_PUBLIC_ID",
        ),
        (
            ("numerai-public-id", "numerai-secret"),
            [
                "NUMERAI_PUBLIC_ID and NUMERAI_SECRET_KEY",
                "secrets numerai-public-id and numerai-secret",
            ],
            None,
        ),
    ],
)
def test_missing_keys_are_named(
    g: Gcloud, gcloud: FakeGcloud, empty: tuple[str, ...], named: list[str], not_named: str | None
) -> None:
    gcloud.update(secrets={**gcloud.load()["secrets"], **{name: [""] for name in empty}})
    with pytest.raises(ConfigError) as refused:
        numerai_keys(_settings(), g, {})
    for text in named:
        assert text in str(refused.value)
    if not_named:
        assert not_named not in str(refused.value)
    assert PUBLIC_ID not in str(refused.value)


def test_a_secret_that_does_not_exist_is_a_gcloud_failure(g: Gcloud, gcloud: FakeGcloud) -> None:
    gcloud.update(secrets={"numerai-public-id": [PUBLIC_ID]})
    with pytest.raises(GcloudError, match="NOT_FOUND: secret numerai-secret"):
        numerai_keys(_settings(), g, {})


def test_dry_run_prints_the_reads_and_answers_none(gcloud: FakeGcloud) -> None:
    dry = Gcloud(dry_run=True, executable=str(gcloud.bin / "gcloud"))
    environ = {"NUMERAI_PUBLIC_ID": "env-public", "NUMERAI_SECRET_KEY": "env-secret"}
    assert numerai_keys(_settings(), dry, environ) is None
    assert numerai_keys(_settings(), dry, {}) is None
    assert gcloud.calls() == []


def test_the_client_talks_to_numerai_api_url_bounded(tmp_path: Path) -> None:
    with FakeNumerai(tmp_path / "numerai", models={"demo": MODEL_ID}) as fake:
        keys = NumeraiKeys("FAKEPUBLICID", "FAKESECRETKEY")
        client = numerai_client({"NUMERAI_API_URL": f" {fake.url} "}, keys)
        assert client.set_submission_webhook(MODEL_ID, SERVICE_URL) is True
        assert fake.webhooks == {MODEL_ID: SERVICE_URL}
    assert isinstance(client, NumeraiClient)
    assert client.timeout == (CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT)
    assert fake.url == numerapi.base_api.API_TOURNAMENT_URL
    assert "FAKESECRETKEY" not in repr(client)


def test_a_client_without_keys_refuses_authenticated_calls(tmp_path: Path) -> None:
    with FakeNumerai(tmp_path / "numerai") as fake:
        client = numerai_client({"NUMERAI_API_URL": fake.url}, None)
        assert client.get_current_round() == fake.current_round
        with pytest.raises(NumeraiError, match="keys are required"):
            client.set_submission_webhook(MODEL_ID, SERVICE_URL)
        assert fake.webhooks == {}


def _bare_python(gcloud: FakeGcloud, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -S -m ops …``: no site-packages, so neither numerapi nor google-cloud-run."""
    return subprocess.run(
        [sys.executable, "-S", "-m", "ops", *args],
        cwd=REPO,
        env=gcloud.env(PROJECT=PROJECT, REGION=REGION, **env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_register_without_numerapi_is_bad_input(gcloud: FakeGcloud) -> None:
    gcloud.update(
        run_services={"numerai-dispatcher": {"url": SERVICE_URL}},
        secrets={
            "numerai-webhook-token": ["tok"],
            "numerai-public-id": [PUBLIC_ID],
            "numerai-secret": [SECRET_KEY],
        },
    )
    run = _bare_python(gcloud, "webhook-url", MODEL="demo_pred1", REGISTER="1")
    assert run.returncode == 2, run.stderr
    assert "REGISTER=1 needs numerapi: run `make bootstrap`" in run.stderr
    assert run.stdout == ""


def test_smoke_without_its_libraries_is_bad_input_before_anything_is_sent(
    gcloud: FakeGcloud,
) -> None:
    gcloud.update(secrets={"numerai-webhook-token": ["tok"]})
    # Nothing listens there: had the webhook been sent, smoke would fail (exit 1) instead.
    url = f"http://127.0.0.1:{free_port()}"
    run = _bare_python(gcloud, "smoke", MODEL="demo_pred1", DISPATCHER_URL=url)
    assert run.returncode == 2, run.stderr
    assert "smoke needs google-cloud-run and numerapi: run it as `make smoke`" in run.stderr
    assert "smoke: FAILED" not in run.stderr and run.stdout == ""
