"""make release: gcloud builds submit, its preflight, and what gets uploaded."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fakes.gcloud import gcloud_path
from tests.deploy.conftest import PROJECT, REGION, REPO, FakeGcloud, iam_grants, write_registry

MODEL_ID = "11111111-1111-4111-8111-111111111111"


@pytest.fixture
def registry_with_model(tmp_path: Path) -> Path:
    model = tmp_path / "model.cbm"
    model.write_bytes(b"catboost")
    path = write_registry(tmp_path / "models.toml",
                          {"alpha": {"id": MODEL_ID, "predictor": "pred1"}})
    path.write_text(path.read_text() + f'[models.alpha.options]\nmodel_path = "{model}"\n')
    return path


DISPATCHER = f"serviceAccount:numerai-dispatcher@{PROJECT}.iam.gserviceaccount.com"
BUILD_ARGS = [
    f"--service-account=projects/{PROJECT}/serviceAccounts/"
    f"numerai-build@{PROJECT}.iam.gserviceaccount.com",
    f"--gcs-source-staging-dir=gs://{PROJECT}_cloudbuild/source",
    f"--project={PROJECT}",
    ".",
]
BASE_SUBSTITUTIONS = (
    f"_REGION={REGION},_REPOSITORY=numerai,_JOB_NAME=numerai-job,"
    "_SERVICE_NAME=numerai-dispatcher,_JOB_SA=numerai-job,_DISPATCHER_SA=numerai-dispatcher"
)


@pytest.fixture
def set_up(gcloud: FakeGcloud) -> FakeGcloud:
    """A project `make setup` has prepared: the token secret and the service accounts."""
    gcloud.update(
        run_jobs=[],
        secrets={"numerai-webhook-token": ["token-version-1-" + "x" * 30]},
        service_accounts=[f"numerai-dispatcher@{PROJECT}.iam.gserviceaccount.com"],
    )
    return gcloud


def _submits(gcloud: FakeGcloud) -> list[list[str]]:
    return [a for a in gcloud.argvs() if a[:2] == ["builds", "submit"]]


def test_first_release_pins_the_newest_token_and_grants_after_the_build(
    set_up: FakeGcloud, registry_with_model: Path
) -> None:
    run = set_up.make("release", PROJECT=PROJECT, REGION=REGION, JOB_MEMORY="8Gi",
                      NUMERAI_MODELS_FILE=str(registry_with_model))
    assert run.code == 0, run.output
    assert _submits(set_up) == [[
        "builds", "submit", "--config=cloudbuild.yaml",
        f"--substitutions={BASE_SUBSTITUTIONS},_JOB_MEMORY=8Gi,_WEBHOOK_TOKEN_VERSION=1",
        *BUILD_ARGS,
    ]]
    calls = set_up.argvs()
    build = calls.index(_submits(set_up)[0])
    # Before the build: what the dispatcher runs with (nothing yet), then the newest version.
    assert [a[:4] for a in calls[:build]] == [
        ["run", "services", "describe", "numerai-dispatcher"],
        ["secrets", "versions", "describe", "latest"],
    ]
    # After it, as the user: the grants the build account cannot make.
    assert iam_grants(calls[build:]) == [
        ("run jobs", "numerai-job", DISPATCHER, "roles/run.jobsExecutorWithOverrides"),
        ("run jobs", "numerai-job", DISPATCHER, "roles/run.viewer"),
        ("run services", "numerai-dispatcher", "allUsers", "roles/run.invoker"),
    ]
    assert "https://numerai-dispatcher-abc123-ew.a.run.app/pred/<MODEL_ID>?token=" in run.stdout
    assert "token-version-1" not in run.output


def test_second_release_keeps_the_pinned_token_and_grants_nothing_new(
    set_up: FakeGcloud, registry_with_model: Path
) -> None:
    env = {"PROJECT": PROJECT, "REGION": REGION, "NUMERAI_MODELS_FILE": str(registry_with_model)}
    assert set_up.ops("release", **env).code == 0
    state = set_up.load()
    state["secrets"]["numerai-webhook-token"].append("a-newer-version-not-yet-rotated-in")
    set_up.save(state)
    set_up.clear()

    run = set_up.ops("release", **env)

    assert run.code == 0, run.output
    [submit] = _submits(set_up)
    assert f"--substitutions={BASE_SUBSTITUTIONS},_WEBHOOK_TOKEN_VERSION=1" in submit
    assert not any(a[:3] == ["secrets", "versions", "describe"] for a in set_up.argvs())
    assert iam_grants(set_up.argvs()) == []


def test_release_during_a_rotation_keeps_both_tokens(
    set_up: FakeGcloud, registry_with_model: Path
) -> None:
    set_up.update(run_services={"numerai-dispatcher": {
        "url": "https://numerai-dispatcher-abc123-ew.a.run.app",
        "env": [
            {"name": "WEBHOOK_TOKEN", "valueFrom": {"secretKeyRef": {
                "name": "numerai-webhook-token", "key": "3"}}},
            {"name": "WEBHOOK_TOKEN_PREVIOUS", "valueFrom": {"secretKeyRef": {
                "name": "numerai-webhook-token", "key": "2"}}},
        ],
    }})
    run = set_up.ops("release", PROJECT=PROJECT, REGION=REGION,
                     NUMERAI_MODELS_FILE=str(registry_with_model))
    assert run.code == 0, run.output
    [submit] = _submits(set_up)
    assert (f"--substitutions={BASE_SUBSTITUTIONS},_WEBHOOK_TOKEN_VERSION=3,"
            "_WEBHOOK_TOKEN_PREVIOUS_VERSION=2") in submit


def test_a_job_only_release_pins_no_token_and_grants_on_that_job(
    set_up: FakeGcloud, registry_with_model: Path
) -> None:
    run = set_up.ops("release", PROJECT=PROJECT, REGION=REGION, JOB_NAME="numerai-job-big",
                     DEPLOY_DISPATCHER="false", NUMERAI_MODELS_FILE=str(registry_with_model))
    assert run.code == 0, run.output
    [submit] = _submits(set_up)
    assert not any("_WEBHOOK_TOKEN" in a for a in submit)
    assert {(kind, name, role) for kind, name, _, role in iam_grants(set_up.argvs())} == {
        ("run jobs", "numerai-job-big", "roles/run.jobsExecutorWithOverrides"),
        ("run jobs", "numerai-job-big", "roles/run.viewer"),
    }


def test_release_without_a_token_secret_says_run_setup(
    gcloud: FakeGcloud, registry_with_model: Path
) -> None:
    run = gcloud.ops("release", PROJECT=PROJECT, REGION=REGION,
                     NUMERAI_MODELS_FILE=str(registry_with_model))
    assert run.code == 2
    assert "secret numerai-webhook-token does not exist" in run.stderr
    assert "make setup" in run.stderr
    assert _submits(gcloud) == []


def test_release_refuses_a_missing_model_file(gcloud: FakeGcloud, tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "models.toml",
                              {"alpha": {"id": MODEL_ID, "predictor": "pred1"}})
    registry.write_text(registry.read_text()
                        + '[models.alpha.options]\nmodel_path = "predictors/pred1/nope.cbm"\n')
    run = gcloud.ops("release", PROJECT=PROJECT, REGION=REGION,
                     NUMERAI_MODELS_FILE=str(registry))
    assert run.code == 2
    assert "predictors/pred1/nope.cbm" in run.stderr and "[models.alpha]" in run.stderr
    assert gcloud.calls() == []


def test_release_accepts_an_absolute_path_mounted_at_run_time(
    set_up: FakeGcloud, tmp_path: Path
) -> None:
    gcloud = set_up
    registry = write_registry(tmp_path / "models.toml",
                              {"alpha": {"id": MODEL_ID, "predictor": "model_upload"}})
    registry.write_text(registry.read_text()
                        + '[models.alpha.options]\npickle_path = "/models/alpha.pkl"\n')
    run = gcloud.ops("release", PROJECT=PROJECT, REGION=REGION,
                     NUMERAI_MODELS_FILE=str(registry))
    assert run.code == 0, run.stderr
    assert len(_submits(gcloud)) == 1


def test_release_refuses_bad_substitution_values(
    gcloud: FakeGcloud, registry_with_model: Path
) -> None:
    run = gcloud.ops("release", PROJECT=PROJECT, REGION=REGION, JOB_CPU="2,4",
                     NUMERAI_MODELS_FILE=str(registry_with_model))
    assert run.code == 2 and "JOB_CPU='2,4'" in run.stderr
    assert gcloud.calls() == []


def test_release_dry_run(gcloud: FakeGcloud, registry_with_model: Path) -> None:
    run = gcloud.ops("release", PROJECT=PROJECT, DRY_RUN="1",
                     NUMERAI_MODELS_FILE=str(registry_with_model))
    assert run.code == 0, run.output
    assert gcloud.calls() == []
    assert "[dry run] gcloud builds submit --config=cloudbuild.yaml" in run.stderr
    # Without REGION and without gcloud to ask, the documented default.
    assert "_REGION=us-central1" in run.stderr


def test_release_build_failure_is_exit_1(gcloud: FakeGcloud, registry_with_model: Path) -> None:
    gcloud.update(secrets={"numerai-webhook-token": ["t" * 43]},
                  fail={"builds submit": {"code": 1, "stderr": "ERROR: build step 0 failed",
                                          "times": 1}})
    run = gcloud.ops("release", PROJECT=PROJECT, REGION=REGION,
                     NUMERAI_MODELS_FILE=str(registry_with_model))
    assert run.code == 1
    assert "build step 0 failed" in run.stderr
    assert iam_grants(gcloud.argvs()) == []  # nothing is granted for a failed build


@pytest.mark.skipif(gcloud_path() is None, reason="gcloud is not installed")
def test_gcloudignore_uploads_sources_and_models_not_junk(tmp_path: Path) -> None:
    """The real gcloud decides what `gcloud builds submit` uploads, from .gcloudignore."""
    tree = tmp_path / "tree"
    keep = ["cloudbuild.yaml", "Dockerfile.job", "Dockerfile.dispatcher", "pyproject.toml",
            "uv.lock", "common/registry.py", "job/__main__.py", "dispatcher/__main__.py",
            "predictors/models.toml", "predictors/pred1/model.cbm"]
    drop = [".venv/lib/x.py", ".git/HEAD", ".data/v5.3/live.parquet", "tests/test_x.py",
            "job/__pycache__/x.cpython-311.pyc", "build/image-test/rootfs.tar",
            "predictors/pred1/catboost_info/learn.tsv", ".env",
            ".bench/model/pred1.cbm", ".rehearsal/pred1.cbm", ".demo/pred1.cbm"]
    for name in keep + drop:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text("x")
    shutil.copy(REPO / ".gcloudignore", tree / ".gcloudignore")
    # Model files are usually git-ignored; .gcloudignore must not inherit that.
    (tree / ".gitignore").write_text("*.cbm\n.venv/\n")
    proc = subprocess.run(
        ["gcloud", "meta", "list-files-for-upload", str(tree)],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "CLOUDSDK_CONFIG": str(tmp_path / "cfg"),
             "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    uploaded = {line.strip() for line in proc.stdout.splitlines() if line.strip()}
    assert set(keep) <= uploaded
    assert not uploaded & set(drop)
