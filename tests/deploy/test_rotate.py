"""make rotate-token [FINISH=1]: a new webhook token without downtime.

The recording gcloud plays the project (secret versions, the dispatcher's secret
references); registering the new URLs goes through the real numerapi to the fake Numerai.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

from fakes.numerai import FakeNumerai
from tests.deploy.conftest import PROJECT, REGION, FakeGcloud, mutating, write_registry

DEMO_ID = "5f1a7c2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
OTHER_ID = "44444444-4444-4444-8444-444444444444"
SERVICE_URL = "https://numerai-dispatcher-abc123-ew.a.run.app"
OLD_TOKEN = "old-token-" + "o" * 33
FAKE_PUBLIC_ID, FAKE_SECRET_KEY = "FAKEPUBLICID", "FAKESECRETKEY"
SECRET = "numerai-webhook-token"


def _ref(var: str, version: str) -> dict:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": version}}}


@pytest.fixture
def deployed(gcloud: FakeGcloud, tmp_path: Path) -> tuple[FakeGcloud, Path]:
    gcloud.update(
        run_services={"numerai-dispatcher": {"url": SERVICE_URL,
                                             "env": [_ref("WEBHOOK_TOKEN", "1")]}},
        secrets={SECRET: [OLD_TOKEN], "numerai-public-id": [FAKE_PUBLIC_ID],
                 "numerai-secret": [FAKE_SECRET_KEY]},
    )
    registry = write_registry(tmp_path / "models.toml", {
        "first": {"id": DEMO_ID, "predictor": "pred1"},
        "second": {"id": OTHER_ID, "predictor": "pred1"},
    })
    return gcloud, registry


def _env(service: dict) -> dict[str, str]:
    return {v["name"]: v["valueFrom"]["secretKeyRef"]["key"] for v in service["env"]}


def test_a_rotation_keeps_both_tokens_until_it_is_finished(
    deployed: tuple[FakeGcloud, Path], tmp_path: Path
) -> None:
    gcloud, registry = deployed
    models = {"first": DEMO_ID, "second": OTHER_ID}
    with FakeNumerai(tmp_path / "numerai", models=models) as numerai:
        run = gcloud.ops("rotate-token", PROJECT=PROJECT, REGION=REGION,
                         NUMERAI_MODELS_FILE=str(registry), NUMERAI_API_URL=numerai.url)
        assert run.code == 0, run.output
        state = gcloud.load()
        new_token = state["secrets"][SECRET][1]
        # Both accepted: the new version as WEBHOOK_TOKEN, the old as WEBHOOK_TOKEN_PREVIOUS.
        service = state["run_services"]["numerai-dispatcher"]
        assert _env(service) == {"WEBHOOK_TOKEN": "2", "WEBHOOK_TOKEN_PREVIOUS": "1"}
        # Numerai has every model's new URL.
        quoted = urllib.parse.quote(new_token, safe="")
        assert numerai.webhooks == {
            model_id: f"{SERVICE_URL}/pred/{model_id}?token={quoted}"
            for model_id in models.values()
        }
    assert new_token != OLD_TOKEN and len(new_token) == 43
    for secret in (new_token, OLD_TOKEN, FAKE_SECRET_KEY):
        assert secret not in run.output
        assert all(secret not in " ".join(a) for a in gcloud.argvs())
    assert "make rotate-token FINISH=1" in run.stdout
    assert mutating(gcloud.argvs()) == [
        ["secrets", "versions", "add", SECRET, "--data-file=-", f"--project={PROJECT}",
         "--format=value(name)"],
        ["run", "services", "update", "numerai-dispatcher", f"--region={REGION}",
         f"--project={PROJECT}",
         f"--update-secrets=WEBHOOK_TOKEN={SECRET}:2,WEBHOOK_TOKEN_PREVIOUS={SECRET}:1",
         "--quiet"],
    ]

    # Starting another one now is refused: finish this one first.
    again = gcloud.ops("rotate-token", PROJECT=PROJECT, REGION=REGION,
                       NUMERAI_MODELS_FILE=str(registry))
    assert again.code == 2 and "already under way" in again.stderr

    gcloud.clear()
    finish = gcloud.ops("rotate-token", PROJECT=PROJECT, REGION=REGION, FINISH="1",
                        NUMERAI_MODELS_FILE=str(registry))
    assert finish.code == 0, finish.output
    state = gcloud.load()
    assert _env(state["run_services"]["numerai-dispatcher"]) == {"WEBHOOK_TOKEN": "2"}
    assert state["disabled_versions"][SECRET] == [1]
    assert mutating(gcloud.argvs()) == [
        ["run", "services", "update", "numerai-dispatcher", f"--region={REGION}",
         f"--project={PROJECT}", "--remove-secrets=WEBHOOK_TOKEN_PREVIOUS", "--quiet"],
        ["secrets", "versions", "disable", "1", f"--secret={SECRET}", f"--project={PROJECT}"],
    ]


def test_finishing_without_a_rotation_is_bad_input(deployed: tuple[FakeGcloud, Path]) -> None:
    gcloud, registry = deployed
    run = gcloud.ops("rotate-token", PROJECT=PROJECT, REGION=REGION, FINISH="1",
                     NUMERAI_MODELS_FILE=str(registry))
    assert run.code == 2 and "no rotation is under way" in run.stderr
    assert mutating(gcloud.argvs()) == []


def test_a_refused_registration_leaves_both_tokens_accepted_and_says_how_to_go_on(
    deployed: tuple[FakeGcloud, Path], tmp_path: Path
) -> None:
    gcloud, registry = deployed
    # The fake Numerai knows only the first model: the second's webhook is refused.
    with FakeNumerai(tmp_path / "numerai", models={"first": DEMO_ID}) as numerai:
        run = gcloud.ops("rotate-token", PROJECT=PROJECT, REGION=REGION,
                         NUMERAI_MODELS_FILE=str(registry), NUMERAI_API_URL=numerai.url)
    assert run.code == 1
    assert "make webhook-url MODEL=all REGISTER=1" in run.stderr
    service = gcloud.load()["run_services"]["numerai-dispatcher"]
    assert _env(service) == {"WEBHOOK_TOKEN": "2", "WEBHOOK_TOKEN_PREVIOUS": "1"}


def test_without_keys_nothing_changes(deployed: tuple[FakeGcloud, Path]) -> None:
    gcloud, registry = deployed
    state = gcloud.load()
    state["secrets"]["numerai-secret"] = [""]
    gcloud.save(state)
    run = gcloud.ops("rotate-token", PROJECT=PROJECT, REGION=REGION,
                     NUMERAI_MODELS_FILE=str(registry))
    assert run.code == 2 and "NUMERAI_SECRET_KEY" in run.stderr
    assert mutating(gcloud.argvs()) == []


def test_before_the_first_release_there_is_nothing_to_rotate(gcloud: FakeGcloud) -> None:
    run = gcloud.ops("rotate-token", PROJECT=PROJECT, REGION=REGION)
    assert run.code == 2 and "make release" in run.stderr


def test_dry_run_changes_nothing(deployed: tuple[FakeGcloud, Path]) -> None:
    gcloud, registry = deployed
    run = gcloud.ops("rotate-token", PROJECT=PROJECT, REGION=REGION, DRY_RUN="1",
                     NUMERAI_MODELS_FILE=str(registry))
    assert run.code == 0, run.output
    assert gcloud.calls() == []
    assert "[dry run] gcloud run services update numerai-dispatcher" in run.stderr
    assert "would register the new URL of 2 model(s)" in run.stdout
