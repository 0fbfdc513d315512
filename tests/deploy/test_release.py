"""make release: gcloud builds submit, its preflight, and what gets uploaded."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fakes.gcloud import gcloud_path
from tests.deploy.conftest import PROJECT, REGION, REPO, FakeGcloud, write_registry

MODEL_ID = "11111111-1111-4111-8111-111111111111"


@pytest.fixture
def registry_with_model(tmp_path: Path) -> Path:
    model = tmp_path / "model.cbm"
    model.write_bytes(b"catboost")
    path = write_registry(tmp_path / "models.toml",
                          {"alpha": {"id": MODEL_ID, "predictor": "pred1"}})
    path.write_text(path.read_text() + f'[models.alpha.options]\nmodel_path = "{model}"\n')
    return path


def test_release_submits_cloudbuild_with_the_build_account(
    gcloud: FakeGcloud, registry_with_model: Path
) -> None:
    run = gcloud.make("release", PROJECT=PROJECT, REGION=REGION, JOB_MEMORY="8Gi",
                      NUMERAI_MODELS_FILE=str(registry_with_model))
    assert run.code == 0, run.output
    assert gcloud.argvs() == [[
        "builds", "submit", "--config=cloudbuild.yaml",
        f"--substitutions=_REGION={REGION},_REPOSITORY=numerai,_JOB_NAME=numerai-job,"
        "_SERVICE_NAME=numerai-dispatcher,_JOB_SA=numerai-job,_DISPATCHER_SA=numerai-dispatcher,"
        "_JOB_MEMORY=8Gi",
        f"--service-account=projects/{PROJECT}/serviceAccounts/"
        f"numerai-build@{PROJECT}.iam.gserviceaccount.com",
        f"--gcs-source-staging-dir=gs://{PROJECT}_cloudbuild/source",
        f"--project={PROJECT}",
        ".",
    ]]
    assert "make webhook-url" in run.stdout


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
    gcloud: FakeGcloud, tmp_path: Path
) -> None:
    registry = write_registry(tmp_path / "models.toml",
                              {"alpha": {"id": MODEL_ID, "predictor": "model_upload"}})
    registry.write_text(registry.read_text()
                        + '[models.alpha.options]\npickle_path = "/models/alpha.pkl"\n')
    run = gcloud.ops("release", PROJECT=PROJECT, REGION=REGION,
                     NUMERAI_MODELS_FILE=str(registry))
    assert run.code == 0, run.stderr
    assert [a[:2] for a in gcloud.argvs()] == [["builds", "submit"]]


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
    gcloud.update(fail={"builds submit": {"code": 1, "stderr": "ERROR: build step 0 failed",
                                          "times": 1}})
    run = gcloud.ops("release", PROJECT=PROJECT, REGION=REGION,
                     NUMERAI_MODELS_FILE=str(registry_with_model))
    assert run.code == 1
    assert "build step 0 failed" in run.stderr


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
