"""Credentials: Secret Manager through the real client against its local REST fake, and
the keys never appearing in any output."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from common.retry import NO_DELAY
from fakes.secretmanager import FakeSecretManager
from tests.job.support import MODEL_A, MODEL_B, PUBLIC_ID, REPO_ROOT, SECRET_KEY, pred1_entry

PROJECT = "test-project"


@pytest.fixture
def secret_manager() -> Iterator[FakeSecretManager]:
    secrets = {"numerai-public-id": PUBLIC_ID, "numerai-secret": SECRET_KEY + "\n"}
    with FakeSecretManager(secrets, project=PROJECT) as fake:
        yield fake


def secret_env(fake: FakeSecretManager, **extra: str | None) -> dict[str, str | None]:
    return {
        "NUMERAI_PUBLIC_ID": None,
        "NUMERAI_SECRET_KEY": None,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "SECRET_MANAGER_API_ENDPOINT": fake.url,
        "NUMERAI_MODEL_ID": MODEL_A,
        **extra,
    }


def test_keys_come_from_secret_manager_when_the_environment_has_none(
    job, pred1_models, secret_manager
):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run(**secret_env(secret_manager))

    assert result.code == 0, result.output
    assert len(job.fake.submissions) == 1  # the fake accepted the keys read from the secrets
    assert "Numerai credentials read from Secret Manager" in result.output


def test_secret_names_can_be_overridden(job, pred1_models, secret_manager):
    secret_manager.secrets.update({"my-id": PUBLIC_ID, "my-key": SECRET_KEY})
    secret_manager.deny("numerai-public-id")
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    env = secret_env(
        secret_manager, NUMERAI_PUBLIC_ID_SECRET="my-id", NUMERAI_SECRET_KEY_SECRET="my-key"
    )
    result = job.run(**env)

    assert result.code == 0, result.output
    assert len(job.fake.submissions) == 1


def test_secret_manager_5xx_is_retried(job, pred1_models, secret_manager):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    secret_manager.fail_next(2, status=503)
    result = job.run(**secret_env(secret_manager))

    assert result.code == 0, result.output
    assert len(secret_manager.requests) == 4  # 2 failures, then both secrets


def test_secret_manager_down_is_exit_1_naming_both_variables(job, pred1_models, secret_manager):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    secret_manager.fail_next(NO_DELAY.attempts, status=503)
    result = job.run(**secret_env(secret_manager))

    assert result.code == 1
    assert "NUMERAI_PUBLIC_ID and NUMERAI_SECRET_KEY are unset" in result.output
    assert "failed after 4 attempts" in result.output
    assert job.fake.requests == []


def test_denied_secret_is_exit_2_naming_both_variables(job, pred1_models, secret_manager):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    secret_manager.deny("numerai-secret")
    result = job.run(**secret_env(secret_manager))

    assert result.code == 2
    assert "NUMERAI_PUBLIC_ID and NUMERAI_SECRET_KEY" in result.output
    assert "'numerai-secret' in project 'test-project' cannot be read (403 Forbidden)" in (
        result.output
    )
    assert job.fake.requests == []


def test_dry_run_never_touches_secret_manager(job, pred1_models, secret_manager):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run("--dry-run", **secret_env(secret_manager))

    assert result.code == 0, result.output
    assert secret_manager.requests == []


def test_dry_run_imports_no_secret_manager(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    probe = job.tmp_path / "probe.py"
    probe.write_text(
        "import sys\nfrom job.cli import main\n"
        "code = main()\n"
        "assert 'google.cloud.secretmanager' not in sys.modules, 'secretmanager imported'\n"
        "sys.exit(code)\n"
    )
    env = {**job.env(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_DRY_RUN="1"), "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, str(probe)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_secrets_never_appear_in_any_output(job, pred1_models, secret_manager):
    """Real stdout and stderr of real runs: success, Numerai refusing, Secret Manager."""
    job.register(
        alpha=pred1_entry(MODEL_A, pred1_models["medium"]),
        beta=pred1_entry(MODEL_B, pred1_models["medium"]),
    )
    runs = [job.run_subprocess(NUMERAI_MODEL_ID="all")]
    job.fake.faults.create_submission_error("Invalid submission", count=1)
    job.fake.faults.fail_puts(1, status=403)
    runs.append(job.run_subprocess(NUMERAI_MODEL_ID="all"))
    runs.append(job.run_subprocess(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_SECRET_KEY=SECRET_KEY + "X"))
    runs.append(job.run_subprocess(**secret_env(secret_manager)))
    secret_manager.deny("numerai-secret")
    runs.append(job.run_subprocess(**secret_env(secret_manager)))

    assert [r.code for r in runs] == [0, 1, 1, 0, 2]
    for run in runs:
        assert run.output.strip()
        assert SECRET_KEY not in run.output
        assert PUBLIC_ID not in run.output


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NUMERAI_SECRET_KEY", SECRET_KEY[:4] + "\r\n" + SECRET_KEY[4:]),
        ("NUMERAI_SECRET_KEY", SECRET_KEY[:4] + " " + SECRET_KEY[4:]),
        ("NUMERAI_PUBLIC_ID", PUBLIC_ID[:4] + "\x1b" + PUBLIC_ID[4:]),
    ],
)
def test_a_key_holding_whitespace_or_control_characters_is_exit_2(
    job, pred1_models, variable, value
):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run_subprocess(NUMERAI_MODEL_ID=MODEL_A, **{variable: value})

    assert result.code == 2, result.output
    [line] = [json.loads(x) for x in result.stdout.splitlines() if x.strip()]
    assert line["message"].startswith(f"{variable} holds whitespace or control characters")
    assert "Traceback" not in result.output
    for part in (SECRET_KEY[:4], SECRET_KEY[4:], PUBLIC_ID[4:]):
        assert part not in result.output
    assert job.fake.requests == []


def test_a_secret_holding_a_line_break_is_exit_2_naming_the_secret(
    job, pred1_models, secret_manager
):
    secret_manager.secrets["numerai-secret"] = SECRET_KEY[:4] + "\n" + SECRET_KEY[4:]
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run(**secret_env(secret_manager))

    assert result.code == 2
    assert "secret 'numerai-secret' in project 'test-project' holds whitespace" in result.output
    assert SECRET_KEY[4:] not in result.output


def test_key_values_are_masked_in_every_log_line(job, pred1_models):
    """A predictor (or a library) that puts a key into a message: the line is masked."""

    class Leaky:
        data_version = "v5.3"

        def columns(self, features):
            return None

        def predict(self, live, context):
            raise ValueError(f"auth failed for Token {PUBLIC_ID}${SECRET_KEY}")

    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run(NUMERAI_MODEL_ID=MODEL_A, load_predictor=lambda name, options: Leaky())

    assert result.code == 1
    line = result.summary("alpha")
    assert line["event"] == "failed"
    assert "auth failed for Token [redacted]$[redacted]" in line["message"]
    assert SECRET_KEY not in result.output and PUBLIC_ID not in result.output
