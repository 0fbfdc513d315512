"""make smoke end to end against the local fakes.

A "deployment" made of the real parts: the dispatcher (``python -m dispatcher``,
``DISPATCH_MODE=cloudrun``) launches through the real google-cloud-run client into
FakeCloudRun, whose executions run ``python -m job`` (JobProcessExecutor) against the
fake Numerai, with the job's stdout recorded as the execution's Cloud Logging entries.
``python -m ops smoke`` then runs as a user runs it: gcloud is the recording stand-in
(service URL, secrets), except ``logging read``, which it hands to the REAL gcloud that
reaches FakeCloudRun's Logging endpoint as its proxy; the execution is followed with
the real ``ExecutionsClient``, the submission checked with the real numerapi.
"""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakes.cloudrun import FakeCloudRun
from fakes.executions import JobProcessExecutor
from fakes.gcloud import gcloud_path
from fakes.numerai import FakeNumerai
from fakes.synthetic import SyntheticSpec
from local.sandbox import free_port
from tests.deploy.conftest import PROJECT, REGION, FakeGcloud, via_real_gcloud
from tests.dispatcher.running import Dispatcher, base_env
from tests.job.support import PUBLIC_ID, SECRET_KEY, registry_text

pytestmark = pytest.mark.skipif(gcloud_path() is None, reason="gcloud is not installed")

MODEL = "demo_pred1"
MODEL_ID = "5f1a7c2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
# The smoke verb polls fast here; the job itself takes a few seconds.
POLL = "0.2"


@dataclass
class Deployment:
    numerai: FakeNumerai
    cloudrun: FakeCloudRun
    executor: JobProcessExecutor
    dispatcher: Dispatcher
    token: str
    registry: Path
    scratch: Path


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    synthetic_data: Path,
    synthetic_spec: SyntheticSpec,
    pred1_models: dict[str, Path],
) -> Iterator[Deployment]:
    scratch = tmp_path_factory.mktemp("smoke")
    registry = scratch / "models.toml"
    registry.write_text(registry_text({MODEL: {
        "id": MODEL_ID,
        "predictor": "pred1",
        "options": {"model_path": str(pred1_models["medium"]), "feature_set": "medium"},
    }}))
    token = secrets.token_urlsafe(24)
    with FakeNumerai(synthetic_data, spec=synthetic_spec, models={MODEL: MODEL_ID}) as numerai:
        # What the deployed job's container has: keys (from Secret Manager on Cloud Run),
        # the registry baked into the image, a data directory.
        executor = JobProcessExecutor(base_env(
            NUMERAI_API_URL=numerai.url,
            NUMERAI_PUBLIC_ID=PUBLIC_ID,
            NUMERAI_SECRET_KEY=SECRET_KEY,
            NUMERAI_MODELS_FILE=str(registry),
            NUMERAI_DATA_DIR=str(scratch / "data"),
        ))
        with FakeCloudRun(project=PROJECT, region=REGION, executor=executor) as cloudrun:
            dispatcher = Dispatcher(base_env(
                PORT=str(free_port()),
                DISPATCH_MODE="cloudrun",
                WEBHOOK_TOKEN=token,
                GOOGLE_CLOUD_PROJECT=PROJECT,
                CLOUD_RUN_REGION=REGION,
                CLOUD_RUN_API_ENDPOINT=cloudrun.url,
                NUMERAI_MODELS_FILE=str(registry),
            ), scratch / "dispatcher.log")
            try:
                dispatcher.wait_ready()
                yield Deployment(numerai, cloudrun, executor, dispatcher, token, registry, scratch)
            finally:
                dispatcher.stop()


@pytest.fixture
def project(gcloud: FakeGcloud, deployment: Deployment) -> FakeGcloud:
    """The gcloud project view: the dispatcher's URL and the three secrets."""
    gcloud.update(
        run_services={"numerai-dispatcher": {"url": deployment.dispatcher.url}},
        secrets={
            "numerai-webhook-token": [deployment.token],
            "numerai-public-id": [PUBLIC_ID],
            "numerai-secret": [SECRET_KEY],
        },
    )
    return gcloud


@pytest.fixture
def job_env(deployment: Deployment) -> Iterator[dict[str, str]]:
    """The deployed job's environment; a test may break it, it is restored after."""
    saved = dict(deployment.executor.base_env)
    yield deployment.executor.base_env
    deployment.executor.base_env = saved


def _smoke(project: FakeGcloud, deployment: Deployment, tmp_path: Path, **env: str):
    variables = {
        "PROJECT": PROJECT,
        "REGION": REGION,
        "MODEL": MODEL,
        "NUMERAI_MODELS_FILE": str(deployment.registry),
        "CLOUD_RUN_API_ENDPOINT": deployment.cloudrun.url,
        "NUMERAI_API_URL": deployment.numerai.url,
        "SMOKE_POLL_SECONDS": POLL,
        **via_real_gcloud(deployment.cloudrun, tmp_path / "real-gcloud"),
    }
    return project.ops("smoke", **{**variables, **env})


def _trigger(output: str) -> str:
    match = re.search(r"trigger (smoke-[0-9a-f-]{36})", output)
    assert match, output
    return match.group(1)


def _no_secret(run, project: FakeGcloud, *values: str) -> None:
    for value in values:
        assert value not in run.output
        assert all(value not in " ".join(c["argv"]) for c in project.calls())


def test_smoke_passes_end_to_end(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path
) -> None:
    runs_before = len(deployment.cloudrun.runs)
    run = _smoke(project, deployment, tmp_path)
    assert run.code == 0, run.output
    trigger = _trigger(run.stdout)

    # 1. the webhook launched one execution with Numerai's test overrides.
    (launched,) = deployment.cloudrun.runs[runs_before:]
    assert launched.env == {"NUMERAI_MODEL_ID": MODEL_ID, "NUMERAI_ROUND": "test",
                            "TRIGGER_ID": trigger, "NUMERAI_IS_TEST": "true"}
    short = launched.execution_name.rsplit("/", 1)[-1]
    assert f"webhook → execution {short}" in run.stdout
    # 2. followed to the end through the Admin API.
    assert f"execution {short} succeeded" in run.stdout
    # 3. its structured logs, read by the real gcloud with the job-log filter (docs/reference.md).
    (read,) = [a for a in project.argvs() if a[:2] == ["logging", "read"]]
    assert read[2].startswith('resource.type="cloud_run_job" AND '
                              f'labels."run.googleapis.com/execution_name"="{short}" AND '
                              'timestamp>="')
    lists = [r for r in deployment.cloudrun.requests if r.path == "/v2/entries:list"]
    assert lists and lists[-1].host == "logging.fake.test"
    assert lists[-1].json()["filter"] == read[2]
    assert re.search(rf"INFO\s+{MODEL} .*\[event=submitted submission_id=", run.stdout)
    # 4. the submission Numerai received carries the trigger.
    (sub,) = [s for s in deployment.numerai.submissions if s.trigger_id == trigger]
    assert f"confirmed: submission {sub.id} of {MODEL} for round {sub.round} carries " \
           f"trigger {trigger} (checked by trigger id)" in run.stdout
    assert run.stdout.strip().splitlines()[-1].startswith("smoke: OK")

    assert deployment.cloudrun.foreign_requests == []
    _no_secret(run, project, deployment.token, SECRET_KEY)
    # The token and keys came from the project's secrets, through gcloud's stdout.
    secret_reads = [a[4] for a in project.argvs() if a[:3] == ["secrets", "versions", "access"]]
    assert secret_reads == ["--secret=numerai-webhook-token", "--secret=numerai-public-id",
                            "--secret=numerai-secret"]


def test_wrong_token_fails_at_the_webhook(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path
) -> None:
    wrong = "not-the-token-" + secrets.token_urlsafe(12)
    project.update(secrets={**project.load()["secrets"], "numerai-webhook-token": [wrong]})
    runs_before = len(deployment.cloudrun.runs)
    run = _smoke(project, deployment, tmp_path)
    assert run.code == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("smoke: FAILED at webhook: dispatcher answered 401"), run.output
    assert "make rotate-token" in last
    assert len(deployment.cloudrun.runs) == runs_before
    _no_secret(run, project, wrong, deployment.token)


def test_an_empty_token_fails_at_the_webhook_before_sending(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path
) -> None:
    project.update(secrets={**project.load()["secrets"], "numerai-webhook-token": [""]})
    runs_before = len(deployment.cloudrun.runs)
    run = _smoke(project, deployment, tmp_path)
    assert run.code == 1, run.output
    assert run.stderr.strip().splitlines()[-1] == (
        "smoke: FAILED at webhook: secret numerai-webhook-token is empty: run `make setup`")
    assert len(deployment.cloudrun.runs) == runs_before


def test_a_failing_job_fails_at_the_execution_after_its_logs(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path, job_env: dict[str, str]
) -> None:
    broken = tmp_path / "broken.cbm"
    broken.write_bytes(b"this is not a CatBoost model")
    registry = tmp_path / "models.toml"
    registry.write_text(registry_text({MODEL: {
        "id": MODEL_ID, "predictor": "pred1",
        "options": {"model_path": str(broken), "feature_set": "medium"},
    }}))
    job_env["NUMERAI_MODELS_FILE"] = str(registry)
    run = _smoke(project, deployment, tmp_path)
    assert run.code == 1, run.output
    last = run.stderr.strip().splitlines()[-1]
    assert re.match(r"smoke: FAILED at execution: numerai-job-\w{5} failed: ", last), run.output
    # The job's own failure line was printed before the verdict.
    assert re.search(rf"{MODEL} .*\[event=failed reason=", run.stdout), run.stdout
    assert not [s for s in deployment.numerai.submissions if s.trigger_id == _trigger(run.stdout)]


def test_no_submission_fails_at_confirm(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path, job_env: dict[str, str]
) -> None:
    # A job deployed with dry run on: it succeeds, logs, and submits nothing.
    job_env["NUMERAI_DRY_RUN"] = "1"
    run = _smoke(project, deployment, tmp_path)
    assert run.code == 1, run.output
    trigger = _trigger(run.stdout)
    assert "succeeded" in run.stdout
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("smoke: FAILED at confirm: none of "), run.output
    assert f"carries trigger {trigger}" in last


def test_no_numerai_keys_fail_at_confirm(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path
) -> None:
    project.update(secrets={**project.load()["secrets"], "numerai-secret": [""]})
    run = _smoke(project, deployment, tmp_path)
    assert run.code == 1, run.output
    assert f"execution {deployment.cloudrun.runs[-1].execution_name.rsplit('/', 1)[-1]} " \
           "succeeded" in run.stdout
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("smoke: FAILED at confirm: no Numerai keys: set NUMERAI_SECRET_KEY "
                           "in the environment, or store it in secret numerai-secret"), last
    _no_secret(run, project, deployment.token, PUBLIC_ID)


def test_without_trigger_ids_on_numerai_it_checks_by_time(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path
) -> None:
    deployment.numerai.expose_trigger_ids = False
    try:
        run = _smoke(project, deployment, tmp_path)
    finally:
        deployment.numerai.expose_trigger_ids = True
    assert run.code == 0, run.output
    (sub,) = [s for s in deployment.numerai.submissions if s.trigger_id == _trigger(run.stdout)]
    assert f"confirmed: submission {sub.id} of {MODEL} inserted at " in run.stdout
    assert "checked by time: Numerai's API does not answer trigger ids" in run.stdout


def test_dry_run_sends_nothing(project: FakeGcloud, deployment: Deployment, tmp_path: Path) -> None:
    runs_before = len(deployment.cloudrun.runs)
    run = _smoke(project, deployment, tmp_path, DRY_RUN="1")
    assert run.code == 0, run.output
    assert project.calls() == []
    assert len(deployment.cloudrun.runs) == runs_before
    assert "would POST" in run.stdout and f"/pred/{MODEL_ID}?token=%3Ctoken%3E" in run.stdout


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MODEL": "all"}, "smoke tests one model at a time"),
        ({"MODEL": f"{MODEL},{MODEL}"}, "smoke tests one model at a time"),
        ({"MODEL": "nosuchmodel"}, "MODEL='nosuchmodel'"),
        ({"SMOKE_TIMEOUT": "soon"}, "SMOKE_TIMEOUT='soon'"),
    ],
)
def test_bad_input_exit_2(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path, env: dict, named: str
) -> None:
    run = _smoke(project, deployment, tmp_path, **env)
    assert run.code == 2, run.output
    assert named in run.stderr
    assert project.calls() == []


def test_plain_http_to_a_remote_dispatcher_is_refused(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path
) -> None:
    runs_before = len(deployment.cloudrun.runs)
    run = _smoke(project, deployment, tmp_path, DISPATCHER_URL="http://dispatcher.example.com")
    assert run.code == 1
    assert "smoke: FAILED at webhook: dispatcher URL 'http://dispatcher.example.com' is not " \
           "https" in run.stderr
    assert len(deployment.cloudrun.runs) == runs_before


def test_make_smoke(project: FakeGcloud, deployment: Deployment) -> None:
    """The Makefile target passes MODEL through (dry run: nothing is sent)."""
    assert shutil.which("make")
    run = project.make("smoke", PROJECT=PROJECT, REGION=REGION, MODEL=MODEL, DRY_RUN="1",
                       NUMERAI_MODELS_FILE=str(deployment.registry))
    assert run.code == 0, run.output
    assert f"/pred/{MODEL_ID}?token=%3Ctoken%3E" in run.stdout
