"""A deployment on loopback with one round's runs made, shared by this package's tests.

FakeCloudRun runs each execution as ``python -m job`` against the fake Numerai and keeps
what the job printed as Cloud Logging entries (and Cloud Run's own entry for a failed
execution). Two runs are made once: alpha's through the Admin API v2 with
google-cloud-run (as the dispatcher does; the fake records the dispatcher's account as
its creator), beta's with ``python -m ops rerun`` through the REAL gcloud (recorded as
the person's account); beta's model file is missing, so it fails with a reason. gamma
never runs.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2

from fakes.cloudrun import FakeCloudRun
from fakes.executions import JobProcessExecutor
from fakes.gcloud import FAKE_ACCESS_TOKEN, gcloud_env
from fakes.numerai import FakeNumerai
from fakes.synthetic import SyntheticSpec
from tests.deploy.conftest import PROJECT, REGION, REPO, VERB_TIMEOUT
from tests.dispatcher.running import base_env
from tests.job.support import PUBLIC_ID, SECRET_KEY, registry_text

ALPHA, BETA, GAMMA = (
    "11111111-1111-4111-8111-111111111111",
    "22222222-2222-4222-8222-222222222222",
    "33333333-3333-4333-8333-333333333333",
)
DISPATCHER = f"numerai-dispatcher@{PROJECT}.iam.gserviceaccount.com"
PERSON = "alice@example.com"
WEBHOOK_TRIGGER = "numerai-trigger-7"
JOB_SECONDS = 120


@dataclass
class Deployment:
    numerai: FakeNumerai
    cloudrun: FakeCloudRun
    registry: Path
    alpha_execution: str
    beta_execution: str


def _webhook_run(cloudrun: FakeCloudRun) -> str:
    """alpha's run, launched the dispatcher's way (google-cloud-run, v2 RunJob)."""
    client = run_v2.JobsClient(
        transport="rest",
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=cloudrun.url),
    )
    env = {"NUMERAI_MODEL_ID": ALPHA, "NUMERAI_ROUND": "current",
           "TRIGGER_ID": WEBHOOK_TRIGGER, "NUMERAI_IS_TEST": "false"}
    request = run_v2.RunJobRequest(
        name=f"projects/{PROJECT}/locations/{REGION}/jobs/numerai-job",
        overrides=run_v2.RunJobRequest.Overrides(
            container_overrides=[run_v2.RunJobRequest.Overrides.ContainerOverride(
                env=[run_v2.EnvVar(name=k, value=v) for k, v in env.items()])],
            task_count=1,
        ),
    )
    return client.run_job(request=request).metadata.name.rsplit("/", 1)[-1]


def _rerun(cloudrun: FakeCloudRun, registry: Path, scratch: Path) -> str:
    """beta's run: `python -m ops rerun` with the real gcloud (the person's account)."""
    env = gcloud_env(cloudrun, scratch)
    env.update(PROJECT=PROJECT, REGION=REGION, MODEL="beta", NUMERAI_MODELS_FILE=str(registry))
    proc = subprocess.run([sys.executable, "-m", "ops", "rerun"], cwd=REPO, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=VERB_TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr
    return cloudrun.runs[-1].execution_name.rsplit("/", 1)[-1]


@pytest.fixture(scope="package")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    synthetic_data: Path,
    synthetic_spec: SyntheticSpec,
    pred1_models: dict[str, Path],
) -> Iterator[Deployment]:
    scratch = tmp_path_factory.mktemp("report")
    good = {"model_path": str(pred1_models["medium"]), "feature_set": "medium"}
    registry = scratch / "models.toml"
    registry.write_text(registry_text({
        "alpha": {"id": ALPHA, "predictor": "pred1", "options": good},
        "beta": {"id": BETA, "predictor": "pred1",
                 "options": {**good, "model_path": str(scratch / "gone.cbm")}},
        "gamma": {"id": GAMMA, "predictor": "pred1", "options": good},
    }))
    models = {"alpha": ALPHA, "beta": BETA, "gamma": GAMMA}
    with FakeNumerai(synthetic_data, spec=synthetic_spec, models=models) as numerai:
        executor = JobProcessExecutor(base_env(
            NUMERAI_API_URL=numerai.url,
            NUMERAI_PUBLIC_ID=PUBLIC_ID,
            NUMERAI_SECRET_KEY=SECRET_KEY,
            NUMERAI_MODELS_FILE=str(registry),
            NUMERAI_DATA_DIR=str(scratch / "data"),
        ))
        creators = {None: DISPATCHER, FAKE_ACCESS_TOKEN: PERSON}
        with FakeCloudRun(project=PROJECT, region=REGION, executor=executor,
                          creators=creators) as cloudrun:
            alpha = _webhook_run(cloudrun)
            beta = _rerun(cloudrun, registry, scratch / "gcloud")
            assert cloudrun.wait_executions(JOB_SECONDS)
            yield Deployment(numerai, cloudrun, registry, alpha, beta)
