"""make webhook-url: the URL with the token, and REGISTER=1 through the real numerapi."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes.numerai import FakeNumerai
from tests.deploy.conftest import PROJECT, REGION, FakeGcloud, write_registry

DEMO_ID = "5f1a7c2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
OTHER_ID = "44444444-4444-4444-8444-444444444444"
SERVICE_URL = "https://numerai-dispatcher-abc123-ew.a.run.app"
# A token with characters that must be escaped in a query string.
TOKEN = "tok/en+with=odd&chars-0123456789abcdef"
TOKEN_QUOTED = "tok%2Fen%2Bwith%3Dodd%26chars-0123456789abcdef"
FAKE_PUBLIC_ID = "FAKEPUBLICID"
FAKE_SECRET_KEY = "FAKESECRETKEY"


@pytest.fixture
def deployed(gcloud: FakeGcloud) -> FakeGcloud:
    gcloud.update(
        run_services={"numerai-dispatcher": {"url": SERVICE_URL}},
        secrets={
            "numerai-webhook-token": [TOKEN],
            "numerai-public-id": [FAKE_PUBLIC_ID],
            "numerai-secret": [FAKE_SECRET_KEY],
        },
    )
    return gcloud


def _url(model_id: str) -> str:
    return f"{SERVICE_URL}/pred/{model_id}?token={TOKEN_QUOTED}"


def test_prints_exactly_the_url_and_the_token_nowhere_else(deployed: FakeGcloud) -> None:
    run = deployed.make("webhook-url", PROJECT=PROJECT, REGION=REGION, MODEL="demo_pred1")
    assert run.code == 0, run.output
    assert run.stdout == _url(DEMO_ID) + "\n"
    assert TOKEN not in run.stderr and TOKEN_QUOTED not in run.stderr
    assert deployed.argvs() == [
        ["run", "services", "describe", "numerai-dispatcher", f"--region={REGION}",
         f"--project={PROJECT}", "--format=value(status.url)"],
        ["run", "services", "describe", "numerai-dispatcher", f"--region={REGION}",
         f"--project={PROJECT}", "--format=json"],
        ["secrets", "versions", "access", "latest", "--secret=numerai-webhook-token",
         f"--project={PROJECT}"],
    ]
    assert all(TOKEN not in " ".join(a) for a in deployed.argvs())


def test_the_url_carries_the_version_the_dispatcher_is_pinned_to(deployed: FakeGcloud) -> None:
    # A rotation stopped after adding a version: the dispatcher still reads version 1.
    state = deployed.load()
    state["secrets"]["numerai-webhook-token"].append("a-version-the-dispatcher-never-read")
    state["run_services"]["numerai-dispatcher"]["env"] = [{"name": "WEBHOOK_TOKEN", "valueFrom": {
        "secretKeyRef": {"name": "numerai-webhook-token", "key": "1"}}}]
    deployed.save(state)
    run = deployed.ops("webhook-url", PROJECT=PROJECT, REGION=REGION, MODEL="demo_pred1")
    assert run.code == 0, run.output
    assert run.stdout == _url(DEMO_ID) + "\n"
    assert ["secrets", "versions", "access", "1", "--secret=numerai-webhook-token",
            f"--project={PROJECT}"] in deployed.argvs()


def test_all_models_one_line_each(deployed: FakeGcloud, tmp_path: Path) -> None:
    models = write_registry(tmp_path / "m.toml", {
        "first": {"id": DEMO_ID, "predictor": "pred1"},
        "second": {"id": OTHER_ID, "predictor": "pred1"},
    })
    run = deployed.ops("webhook-url", PROJECT=PROJECT, REGION=REGION, MODEL="all",
                       NUMERAI_MODELS_FILE=str(models))
    assert run.code == 0, run.output
    assert run.stdout.splitlines() == [f"first\t{_url(DEMO_ID)}", f"second\t{_url(OTHER_ID)}"]


def test_not_released_yet(gcloud: FakeGcloud) -> None:
    run = gcloud.ops("webhook-url", PROJECT=PROJECT, REGION=REGION, MODEL="demo_pred1")
    assert run.code == 1
    assert "Cannot find service [numerai-dispatcher]" in run.stderr
    assert run.stdout == ""


def test_empty_service_url(deployed: FakeGcloud) -> None:
    deployed.update(run_services={"numerai-dispatcher": {"url": ""}})
    run = deployed.ops("webhook-url", PROJECT=PROJECT, REGION=REGION, MODEL="demo_pred1")
    assert run.code == 2 and "make release" in run.stderr


def test_empty_token(deployed: FakeGcloud) -> None:
    deployed.update(secrets={**deployed.load()["secrets"], "numerai-webhook-token": [""]})
    run = deployed.ops("webhook-url", PROJECT=PROJECT, REGION=REGION, MODEL="demo_pred1")
    assert run.code == 2
    assert "secret numerai-webhook-token is empty: run `make setup`" in run.stderr
    assert run.stdout == ""


def test_unknown_model(deployed: FakeGcloud) -> None:
    run = deployed.ops("webhook-url", PROJECT=PROJECT, REGION=REGION, MODEL="nope")
    assert run.code == 2 and "MODEL='nope'" in run.stderr
    assert deployed.calls() == []


def test_dry_run_shows_placeholders_and_runs_nothing(deployed: FakeGcloud) -> None:
    run = deployed.ops("webhook-url", PROJECT=PROJECT, REGION=REGION, MODEL="demo_pred1",
                       DRY_RUN="1")
    assert run.code == 0, run.output
    assert run.stdout.strip() == f"<service-url>/pred/{DEMO_ID}?token=%3Ctoken%3E"
    assert deployed.calls() == []


def test_register_sets_the_webhook_on_numerai(deployed: FakeGcloud, tmp_path: Path) -> None:
    with FakeNumerai(tmp_path / "numerai", models={"demo_pred1": DEMO_ID}) as numerai:
        run = deployed.ops("webhook-url", PROJECT=PROJECT, REGION=REGION, MODEL="demo_pred1",
                           REGISTER="1", NUMERAI_API_URL=numerai.url)
        assert run.code == 0, run.output
        assert numerai.webhooks == {DEMO_ID: _url(DEMO_ID)}
    assert run.stdout.strip() == f"registered the webhook of demo_pred1 ({DEMO_ID})"
    for secret in (TOKEN, TOKEN_QUOTED, FAKE_SECRET_KEY):
        assert secret not in run.output
    # Keys came from the project's secrets (none in the environment).
    assert ["secrets", "versions", "access", "latest", "--secret=numerai-secret",
            f"--project={PROJECT}"] in deployed.argvs()


def test_register_dry_run_contacts_nobody(deployed: FakeGcloud, tmp_path: Path) -> None:
    with FakeNumerai(tmp_path / "numerai", models={"demo_pred1": DEMO_ID}) as numerai:
        run = deployed.ops("webhook-url", PROJECT=PROJECT, REGION=REGION, MODEL="demo_pred1",
                           REGISTER="1", DRY_RUN="1", NUMERAI_API_URL=numerai.url,
                           NUMERAI_PUBLIC_ID=FAKE_PUBLIC_ID, NUMERAI_SECRET_KEY=FAKE_SECRET_KEY)
        assert numerai.requests == [] and numerai.webhooks == {}
    assert run.code == 0, run.output
    assert run.stdout == f"[dry run] would register the webhook of demo_pred1 ({DEMO_ID})\n"
    assert deployed.calls() == []


def test_register_with_wrong_keys_fails_without_leaking(
    deployed: FakeGcloud, tmp_path: Path
) -> None:
    wrong = "WRONGSECRETKEYWRONGSECRETKEY"
    with FakeNumerai(tmp_path / "numerai", models={"demo_pred1": DEMO_ID}) as numerai:
        run = deployed.ops("webhook-url", PROJECT=PROJECT, REGION=REGION, MODEL="demo_pred1",
                           REGISTER="1", NUMERAI_API_URL=numerai.url,
                           NUMERAI_PUBLIC_ID=FAKE_PUBLIC_ID, NUMERAI_SECRET_KEY=wrong)
        assert numerai.webhooks == {}
    assert run.code == 1
    assert "Numerai refused the webhook of demo_pred1" in run.stderr
    for secret in (TOKEN, TOKEN_QUOTED, wrong):
        assert secret not in run.output


def test_register_without_any_keys_names_both(gcloud: FakeGcloud) -> None:
    gcloud.update(run_services={"numerai-dispatcher": {"url": SERVICE_URL}},
                  secrets={"numerai-webhook-token": [TOKEN], "numerai-public-id": [""],
                           "numerai-secret": [""]})
    run = gcloud.ops("webhook-url", PROJECT=PROJECT, REGION=REGION, MODEL="demo_pred1",
                     REGISTER="1")
    assert run.code == 2
    assert "NUMERAI_PUBLIC_ID" in run.stderr and "NUMERAI_SECRET_KEY" in run.stderr
