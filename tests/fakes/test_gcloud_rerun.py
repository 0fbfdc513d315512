"""A manual rerun with the real installed gcloud, against the Cloud Run fake.

``gcloud run jobs execute numerai-job --update-env-vars NUMERAI_MODEL_ID=…,…`` (v1 API)
must hand the job exactly the overrides the dispatcher sends through v2 for a webhook:
both ways in, one job environment. gcloud reaches the fake as its HTTP proxy; any request
for another host would be refused and recorded, and the tests assert there were none.

gcloud starts in about a second here; these tests make four gcloud calls in all.
"""

from __future__ import annotations

import threading
import time

import pytest

from dispatcher.cloudrun import CloudRunLauncher
from dispatcher.launcher import LaunchRequest
from dispatcher.settings import CloudRunSettings
from fakes.cloudrun import FakeCloudRun
from fakes.gcloud import FAKE_ACCESS_TOKEN, gcloud_path, run_gcloud

pytestmark = pytest.mark.skipif(gcloud_path() is None, reason="gcloud is not installed")

PROJECT = "test-project"
REGION = "europe-west1"
JOB = "numerai-job"
MODEL_ID = "5f1a7c2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
ROUND = "842"
TRIGGER = "manual-1"
# The public contract (common.contract): exactly these names, both ways in.
RERUN_ENV = {
    "NUMERAI_MODEL_ID": MODEL_ID,
    "NUMERAI_ROUND": ROUND,
    "TRIGGER_ID": TRIGGER,
    "NUMERAI_IS_TEST": "false",
}
V1 = f"/apis/run.googleapis.com/v1/namespaces/{PROJECT}"
REGIONAL_HOST = f"{REGION}-run.fake.test"


def execute_args(*extra: str) -> list[str]:
    env_flag = ",".join(f"{k}={v}" for k, v in RERUN_ENV.items())
    return [
        "run",
        "jobs",
        "execute",
        JOB,
        "--region",
        REGION,
        "--update-env-vars",
        env_flag,
        *extra,
    ]


def assert_only_fake_traffic(fake: FakeCloudRun) -> None:
    assert fake.foreign_requests == []
    assert {r.host for r in fake.requests} == {REGIONAL_HOST}
    # Every call carried the token from the token file (the fake keeps only the scheme).
    assert {r.auth_scheme for r in fake.requests} == {"Bearer"}


def assert_token_not_printed(result) -> None:
    assert FAKE_ACCESS_TOKEN not in result.stdout + result.stderr


async def test_gcloud_rerun_sends_the_same_overrides_as_the_dispatcher(tmp_path):
    with FakeCloudRun(project=PROJECT, region=REGION, jobs=(JOB,)) as fake:
        result = run_gcloud(execute_args("--async"), fake, tmp_path)
        assert result.returncode == 0, result.stderr
        assert "is being started asynchronously" in result.stderr
        assert_token_not_printed(result)

        # gcloud's exact sequence: read the job (to validate the overrides), then run it.
        assert [(r.method, r.path, r.status) for r in fake.requests] == [
            ("GET", f"{V1}/jobs/{JOB}", 200),
            ("POST", f"{V1}/jobs/{JOB}:run", 200),
        ]
        assert_only_fake_traffic(fake)
        [rerun] = fake.runs
        assert rerun.api == "v1"
        assert (rerun.project, rerun.region, rerun.job) == (PROJECT, REGION, JOB)
        # Only the overridden variables: the job's own env (LOG_FORMAT) is not repeated.
        assert rerun.env == RERUN_ENV
        assert rerun.body == {
            "overrides": {
                "containerOverrides": [
                    {
                        "clearArgs": False,
                        "env": [{"name": k, "value": v} for k, v in RERUN_ENV.items()],
                    }
                ]
            }
        }
        assert rerun.execution_name.rsplit("/", 1)[1] in result.stderr

        # The webhook way in: the dispatcher's real launcher and the real v2 JobsClient.
        settings = CloudRunSettings(project=PROJECT, region=REGION, api_endpoint=fake.url)
        async with CloudRunLauncher.open(settings) as launcher:
            launched = await launcher.launch(
                LaunchRequest(
                    model_id=MODEL_ID,
                    model_name="demo_pred1",
                    job=JOB,
                    round=ROUND,
                    trigger_id=TRIGGER,
                    is_test=False,
                )
            )
        webhook = fake.runs[1]
        assert webhook.api == "v2"
        assert webhook.execution_name == launched.execution_name
        assert webhook.env == rerun.env
        assert list(webhook.env) == list(rerun.env)  # same order too


def test_gcloud_wait_follows_the_execution_to_completion(tmp_path):
    # The real API names the namespace by project number in its answers; gcloud then
    # polls the execution under that number.
    with FakeCloudRun(
        project=PROJECT, region=REGION, project_number="123456789", execution_seconds=1.0
    ) as fake:
        started = time.monotonic()
        result = run_gcloud(
            execute_args("--wait", "--tasks", "2", "--task-timeout", "1h"), fake, tmp_path
        )
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert "has successfully completed" in result.stderr
        assert elapsed >= 1.0
        assert_token_not_printed(result)

        [run] = fake.runs
        assert run.env == RERUN_ENV
        assert (run.task_count, run.timeout) == (2, "3600s")
        assert run.body["overrides"]["timeoutSeconds"] == 3600
        short = run.execution_name.rsplit("/", 1)[1]
        sequence = [(r.method, r.path) for r in fake.requests]
        assert sequence[:2] == [("GET", f"{V1}/jobs/{JOB}"), ("POST", f"{V1}/jobs/{JOB}:run")]
        polls = sequence[2:]
        assert len(polls) >= 2  # running, then completed
        assert set(polls) == {
            ("GET", f"/apis/run.googleapis.com/v1/namespaces/123456789/executions/{short}")
        }
        assert all(r.status == 200 for r in fake.requests)
        assert_only_fake_traffic(fake)


def test_gcloud_wait_reports_a_failed_execution(tmp_path):
    with FakeCloudRun(project=PROJECT, region=REGION) as fake:

        def fail_when_started() -> None:
            deadline = time.monotonic() + 60
            while not fake.runs and time.monotonic() < deadline:
                time.sleep(0.05)
            if fake.runs:
                fake.finish(fake.runs[0].execution_name, succeeded=False)

        failer = threading.Thread(target=fail_when_started, daemon=True)
        failer.start()
        result = run_gcloud(execute_args("--wait"), fake, tmp_path)
        failer.join(timeout=5)
        assert result.returncode == 1
        assert "The execution failed." in result.stderr
        # gcloud reads the v1 Completed=False condition as the running stage failing.
        assert "Running execution" in result.stderr and "failed" in result.stderr
        assert len(fake.runs) == 1
        assert_only_fake_traffic(fake)


def test_gcloud_refused_run_fails_and_records_nothing(tmp_path):
    with FakeCloudRun(project=PROJECT, region=REGION) as fake:
        fake.fail_next(1, 403)
        result = run_gcloud(execute_args("--async"), fake, tmp_path)
        assert result.returncode == 1
        assert "PERMISSION_DENIED" in result.stderr
        assert_token_not_printed(result)
        assert fake.runs == []
        assert [(r.method, r.status) for r in fake.requests] == [("GET", 200), ("POST", 403)]
        assert_only_fake_traffic(fake)
