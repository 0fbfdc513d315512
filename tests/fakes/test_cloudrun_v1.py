"""The Cloud Run v1 (Knative) routes gcloud uses, checked at the HTTP level.

The full gcloud conversation is in test_gcloud_rerun.py; these pin the error paths
cheaply, without starting gcloud.
"""

from __future__ import annotations

import http.client
import json

import pytest
import requests

from fakes.cloudrun import FakeCloudRun

PROJECT = "test-project"
REGION = "europe-west1"
JOB = "numerai-job"
V1 = f"/apis/run.googleapis.com/v1/namespaces/{PROJECT}"


@pytest.fixture
def fake():
    with FakeCloudRun(project=PROJECT, region=REGION, jobs=(JOB,)) as server:
        yield server


def proxied(fake: FakeCloudRun, method: str, host: str, path: str, body: dict | None = None):
    """A request the way gcloud sends it through its HTTP proxy (absolute URI)."""
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload else {}
        connection.request(method, f"http://{host}{path}", body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_job_and_execution_shapes(fake):
    status, job = proxied(fake, "GET", f"{REGION}-run.fake.test", f"{V1}/jobs/{JOB}")
    assert status == 200
    assert job["kind"] == "Job"
    assert job["metadata"]["labels"]["cloud.googleapis.com/location"] == REGION
    container = job["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "LOG_FORMAT", "value": "json"}]

    body = {
        "overrides": {
            "containerOverrides": [{"env": [{"name": "NUMERAI_ROUND", "value": "842"}]}],
            "taskCount": 3,
            "timeoutSeconds": 120,
        }
    }
    status, execution = proxied(
        fake, "POST", f"{REGION}-run.fake.test", f"{V1}/jobs/{JOB}:run", body
    )
    assert status == 200
    [run] = fake.runs
    assert (run.api, run.env, run.task_count, run.timeout) == (
        "v1",
        {"NUMERAI_ROUND": "842"},
        3,
        "120s",
    )
    assert execution["metadata"]["name"] == run.execution_name.rsplit("/", 1)[1]
    assert execution["spec"]["taskCount"] == 3
    assert execution["status"]["runningCount"] == 3
    completed = execution["status"]["conditions"][0]
    assert (completed["type"], completed["status"]) == ("Completed", "Unknown")

    fake.finish(run.execution_name)
    status, done = proxied(
        fake, "GET", f"{REGION}-run.fake.test", f"{V1}/executions/{execution['metadata']['name']}"
    )
    assert status == 200
    assert done["status"]["succeededCount"] == 3
    assert done["status"]["conditions"][0]["status"] == "True"
    assert "completionTime" in done["status"]
    # The same execution is visible through v2 with the same overrides.
    v2 = requests.get(f"{fake.url}/v2/{run.execution_name}", timeout=5).json()
    assert v2["succeededCount"] == 3


def test_job_in_another_region_or_project_is_not_found(fake):
    status, error = proxied(fake, "GET", "us-central1-run.fake.test", f"{V1}/jobs/{JOB}")
    assert status == 404
    assert error["error"]["status"] == "NOT_FOUND"
    assert "us-central1" in error["error"]["message"]
    status, _ = proxied(
        fake,
        "POST",
        f"{REGION}-run.fake.test",
        f"/apis/run.googleapis.com/v1/namespaces/other/jobs/{JOB}:run",
        {},
    )
    assert status == 404
    status, _ = proxied(fake, "POST", f"{REGION}-run.fake.test", f"{V1}/jobs/missing:run", {})
    assert status == 404
    assert fake.runs == []


def test_unknown_execution_and_route_are_404(fake):
    status, error = proxied(fake, "GET", f"{REGION}-run.fake.test", f"{V1}/executions/{JOB}-nope1")
    assert status == 404
    assert "EXECUTION" in error["error"]["message"]
    status, _ = proxied(fake, "DELETE", f"{REGION}-run.fake.test", f"{V1}/jobs/{JOB}")
    assert status == 404
    status, _ = proxied(fake, "GET", f"{REGION}-run.fake.test", "/apis/run.googleapis.com/v1/x")
    assert status == 404
    assert fake.foreign_requests == []


def test_v1_run_honours_fail_next(fake):
    fake.fail_next(1, 503)
    status, error = proxied(fake, "POST", f"{REGION}-run.fake.test", f"{V1}/jobs/{JOB}:run", {})
    assert (status, error["error"]["status"]) == (503, "UNAVAILABLE")
    assert fake.runs == []
    status, _ = proxied(fake, "POST", f"{REGION}-run.fake.test", f"{V1}/jobs/{JOB}:run", {})
    assert status == 200
    assert len(fake.runs) == 1
