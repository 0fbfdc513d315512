"""The trust boundary around the job: it runs the models' code (a Model-Upload pickle runs
whatever it holds), so what that code can reach is only the upload key.

- The job gets exactly two secrets, the Numerai upload key, and may read no other.
- ``make setup`` says, where it asks for the keys, to use a key with only the
  'Upload submissions' scope and to keep a Compute-scope key out of the job.
- ``make webhook-url REGISTER=1`` takes a (Compute-scope) key from the environment, uses
  it for that one call and stores it nowhere: the job's secrets stay the upload key.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
import yaml

from fakes.numerai import FakeNumerai
from ops import iam, setup
from ops.settings import load_settings
from tests.deploy.conftest import PROJECT, REGION, REPO, FakeGcloud, mutating

DEMO_ID = "5f1a7c2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
SERVICE_URL = "https://numerai-dispatcher-abc123-ew.a.run.app"
TOKEN = "webhook-token-0123456789abcdef"
UPLOAD_ID, UPLOAD_SECRET = "UPLOADKEYPUBLICIDUPLOADKEYPUBLIC", "UPLOADKEYSECRET" * 4
COMPUTE_ID, COMPUTE_SECRET = "COMPUTEKEYPUBLICIDCOMPUTEKEYPUBL", "COMPUTEKEYSECRET" * 4


def test_the_job_gets_only_the_upload_key() -> None:
    config = yaml.safe_load((REPO / "cloudbuild.yaml").read_text(encoding="utf-8"))
    [deploy] = [step for step in config["steps"] if step["id"] == "deploy-job"]
    secret_flags = [a for a in deploy["args"] if str(a).startswith("--set-secrets=")]
    assert secret_flags == [
        "--set-secrets=NUMERAI_PUBLIC_ID=numerai-public-id:latest,"
        "NUMERAI_SECRET_KEY=numerai-secret:latest"
    ]
    settings = load_settings({"PROJECT": PROJECT, "REGION": REGION}, {}, lambda _key: None)
    job = f"serviceAccount:{settings.job_sa_email}"
    granted = [(b.what, b.role) for b in iam.bindings(settings) if b.member == job]
    assert granted == [
        (f"{iam.SECRET_ACCESSOR} on secret numerai-public-id", iam.SECRET_ACCESSOR),
        (f"{iam.SECRET_ACCESSOR} on secret numerai-secret", iam.SECRET_ACCESSOR),
    ]


def test_setup_without_a_terminal_says_which_key_to_use(gcloud: FakeGcloud) -> None:
    run = gcloud.ops("setup", PROJECT=PROJECT, REGION=REGION)
    assert run.code == 2
    assert "only the 'Upload submissions' scope" in run.stderr
    assert "Keep a key with the Compute scope" in run.stderr


class _Terminal:
    def isatty(self) -> bool:
        return True


def test_setup_prompt_says_which_key_to_use_once(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(getpass, "getpass", lambda text: shown.append(text) or "answer")
    prompt = setup.hidden_prompt(_Terminal())
    assert prompt is not None
    assert prompt("Numerai public id") == prompt("Numerai secret key") == "answer"
    assert shown == [
        f"{setup.UPLOAD_KEY_ADVICE}\nNumerai public id (input hidden): ",
        "Numerai secret key (input hidden): ",
    ]


def test_register_uses_a_compute_key_from_the_environment_and_stores_it_nowhere(
    gcloud: FakeGcloud, tmp_path: Path
) -> None:
    stored = {"numerai-public-id": [UPLOAD_ID], "numerai-secret": [UPLOAD_SECRET]}
    gcloud.update(
        run_services={"numerai-dispatcher": {"url": SERVICE_URL}},
        secrets={"numerai-webhook-token": [TOKEN], **stored},
    )
    # Numerai accepts only the Compute key here: the stored upload key would be refused.
    with FakeNumerai(
        tmp_path / "numerai",
        public_id=COMPUTE_ID,
        secret_key=COMPUTE_SECRET,
        models={"demo_pred1": DEMO_ID},
    ) as numerai:
        run = gcloud.ops(
            "webhook-url",
            PROJECT=PROJECT,
            REGION=REGION,
            MODEL="demo_pred1",
            REGISTER="1",
            NUMERAI_API_URL=numerai.url,
            NUMERAI_PUBLIC_ID=COMPUTE_ID,
            NUMERAI_SECRET_KEY=COMPUTE_SECRET,
        )
        assert run.code == 0, run.output
        assert list(numerai.webhooks) == [DEMO_ID]
    state = gcloud.load()["secrets"]
    assert {name: state[name] for name in stored} == stored  # the job's key is unchanged
    assert mutating(gcloud.argvs()) == []  # nothing created, added or granted
    read = [argv for argv in gcloud.argvs() if argv[:3] == ["secrets", "versions", "access"]]
    assert read == [
        [
            "secrets",
            "versions",
            "access",
            "latest",
            "--secret=numerai-webhook-token",
            f"--project={PROJECT}",
        ]
    ]  # the stored upload key was not even read
    for secret in (COMPUTE_ID, COMPUTE_SECRET, TOKEN):
        assert secret not in run.output
        assert all(secret not in " ".join(argv) for argv in gcloud.argvs())
