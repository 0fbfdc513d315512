"""`make rerun` with the REAL installed gcloud, against the Cloud Run fake.

Proves the command ops builds is one gcloud accepts and turns into common.contract's
overrides: the ``^@^`` list escaping for several model ids, ``--tasks``, and the
env names. gcloud takes about a second per call here; three calls in all.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fakes.cloudrun import FakeCloudRun
from fakes.gcloud import FAKE_ACCESS_TOKEN, gcloud_env, gcloud_path
from tests.deploy.conftest import REPO, VERB_TIMEOUT, write_registry

pytestmark = pytest.mark.skipif(gcloud_path() is None, reason="gcloud is not installed")

PROJECT = "test-project"
REGION = "europe-west1"
ID_A = "11111111-1111-4111-8111-111111111111"
ID_B = "22222222-2222-4222-8222-222222222222"
ID_C = "33333333-3333-4333-8333-333333333333"


def _ops(fake: FakeCloudRun, scratch: Path, *args: str, **env: str):
    full = gcloud_env(fake, scratch)
    full.update(PROJECT=PROJECT, REGION=REGION, **env)
    return subprocess.run([sys.executable, "-m", "ops", *args], cwd=REPO, env=full,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=VERB_TIMEOUT, check=False)


def test_rerun_all_over_two_jobs_with_real_gcloud(tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "models.toml", {
        "alpha": {"id": ID_A, "predictor": "pred1"},
        "beta": {"id": ID_B, "predictor": "pred1"},
        "gamma": {"id": ID_C, "predictor": "pred1", "job": "numerai-job-big"},
    })
    with FakeCloudRun(project=PROJECT, region=REGION, jobs=("numerai-job", "numerai-job-big"),
                      execution_seconds=0.0) as fake:
        proc = _ops(fake, tmp_path, "rerun", MODEL="all", ROUND="842", TRIGGER="manual-7",
                    NUMERAI_MODELS_FILE=str(registry))
        assert proc.returncode == 0, proc.stderr
        assert fake.foreign_requests == []
        runs = {run.job: run for run in fake.runs}
    assert set(runs) == {"numerai-job", "numerai-job-big"}
    assert runs["numerai-job"].env == {
        "NUMERAI_MODEL_ID": f"{ID_A},{ID_B}",
        "NUMERAI_ROUND": "842",
        "TRIGGER_ID": "manual-7",
        "NUMERAI_IS_TEST": "false",
    }
    assert runs["numerai-job"].task_count == 2
    assert runs["numerai-job-big"].env["NUMERAI_MODEL_ID"] == ID_C
    assert runs["numerai-job-big"].task_count == 1
    assert FAKE_ACCESS_TOKEN not in proc.stdout + proc.stderr


def test_rerun_of_a_missing_job_says_so(tmp_path: Path) -> None:
    with FakeCloudRun(project=PROJECT, region=REGION, jobs=("other-job",)) as fake:
        proc = _ops(fake, tmp_path, "rerun", MODEL="demo_pred1")
        assert fake.runs == []
    # gcloud itself would crash on the missing job; ops says what is wrong first.
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: Cloud Run job numerai-job does not exist in {REGION} of {PROJECT}: "
        "run `make release` first")
