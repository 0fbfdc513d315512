"""The Cloud Run v2 fake, driven through the real google-cloud-run REST clients.

These tests pin down what the dispatcher relies on: how the execution name comes back
(``operation.metadata.name``), which exception each API error becomes, and what a
client-side timeout leaves behind on the server.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2

from fakes.cloudrun import FakeCloudRun

PROJECT = "test-project"
REGION = "europe-west1"
JOB = "numerai-job"
JOB_NAME = f"projects/{PROJECT}/locations/{REGION}/jobs/{JOB}"
ENV = {
    "NUMERAI_MODEL_ID": "5f1a7c2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b",
    "NUMERAI_ROUND": "842",
    "TRIGGER_ID": "trigger-1",
    "NUMERAI_IS_TEST": "false",
}
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake():
    with FakeCloudRun(project=PROJECT, region=REGION, jobs=(JOB, "other-job")) as server:
        yield server


def _opts(fake: FakeCloudRun) -> dict:
    return {"api_endpoint": fake.url}


@pytest.fixture
def jobs(fake):
    return run_v2.JobsClient(
        transport="rest", credentials=AnonymousCredentials(), client_options=_opts(fake)
    )


@pytest.fixture
def executions(fake):
    return run_v2.ExecutionsClient(
        transport="rest", credentials=AnonymousCredentials(), client_options=_opts(fake)
    )


def run_request(env: dict[str, str], job_name: str = JOB_NAME) -> run_v2.RunJobRequest:
    """The request the dispatcher builds: one container override, taskCount, timeout."""
    overrides = run_v2.RunJobRequest.Overrides(
        container_overrides=[
            run_v2.RunJobRequest.Overrides.ContainerOverride(
                env=[run_v2.EnvVar(name=k, value=v) for k, v in env.items()]
            )
        ],
        task_count=1,
        timeout="3600s",
    )
    return run_v2.RunJobRequest(name=job_name, overrides=overrides)


def test_run_job_returns_execution_name_in_operation_metadata(fake, jobs):
    operation = jobs.run_job(request=run_request(ENV))

    # This is exactly how the dispatcher reads the execution name: the Operation's
    # metadata Any is unpacked into run_v2.Execution by api_core.
    metadata = operation.metadata
    assert isinstance(metadata, run_v2.Execution)
    execution_name = metadata.name
    assert execution_name.startswith(f"{JOB_NAME}/executions/{JOB}-")
    assert len(execution_name.rsplit("/", 1)[1]) == len(JOB) + 6  # "-" + 5-char suffix
    assert operation.operation.name.startswith(f"projects/{PROJECT}/locations/{REGION}/operations/")

    [run] = fake.runs
    assert run.api == "v2"
    assert (run.project, run.region, run.job) == (PROJECT, REGION, JOB)
    assert run.env == ENV
    assert run.task_count == 1
    assert run.timeout == "3600s"
    assert run.execution_name == execution_name
    assert run.body == {
        "overrides": {
            "containerOverrides": [{"env": [{"name": k, "value": v} for k, v in ENV.items()]}],
            "taskCount": 1,
            "timeout": "3600s",
        }
    }
    [request] = fake.requests
    assert (request.method, request.path, request.status) == (
        "POST",
        f"/v2/{JOB_NAME}:run",
        200,
    )
    assert not operation.done()  # polls GET .../operations/O once
    assert fake.requests[1].path == f"/v2/{operation.operation.name}"


def test_each_run_is_a_new_execution(fake, jobs):
    first = jobs.run_job(request=run_request(ENV)).metadata.name
    second = jobs.run_job(request=run_request(ENV)).metadata.name
    assert first != second
    assert [r.execution_name for r in fake.runs] == [first, second]


def test_unknown_job_is_not_found_and_records_nothing(fake, jobs):
    with pytest.raises(exceptions.NotFound, match="Resource 'missing' of kind 'JOB'"):
        jobs.run_job(
            request=run_request(ENV, f"projects/{PROJECT}/locations/{REGION}/jobs/missing")
        )
    with pytest.raises(exceptions.NotFound):
        jobs.run_job(request=run_request(ENV, f"projects/elsewhere/locations/{REGION}/jobs/{JOB}"))
    assert fake.runs == []
    assert [r.status for r in fake.requests] == [404, 404]


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        # HTTP 403 surfaces as Forbidden (not PermissionDenied, which is gRPC-only).
        (403, exceptions.Forbidden),
        (404, exceptions.NotFound),
        (429, exceptions.TooManyRequests),
        (500, exceptions.InternalServerError),
        (503, exceptions.ServiceUnavailable),
    ],
)
def test_fail_next_raises_the_mapped_exception_then_recovers(fake, jobs, status, exception):
    fake.fail_next(2, status)
    for _ in range(2):
        with pytest.raises(exception):
            jobs.run_job(request=run_request(ENV))
    assert fake.runs == []
    jobs.run_job(request=run_request(ENV))
    assert len(fake.runs) == 1
    assert [r.status for r in fake.requests] == [status, status, 200]


def test_failure_body_is_google_error_json(fake):
    fake.fail_next(1, 503)
    response = requests.post(f"{fake.url}/v2/{JOB_NAME}:run", json={}, timeout=5)
    assert response.status_code == 503
    assert response.json()["error"]["status"] == "UNAVAILABLE"
    assert response.json()["error"]["code"] == 503


def test_hang_next_times_out_the_client_but_the_run_still_happens(fake, jobs):
    fake.hang_next(1, 0.6)
    started = time.monotonic()
    # The REST transport does not wrap transport errors: a timeout is requests' own.
    with pytest.raises(requests.exceptions.ReadTimeout):
        jobs.run_job(request=run_request(ENV), timeout=0.2)
    assert time.monotonic() - started < 0.5
    # Like the real API, the server finishes the request the client gave up on: a
    # blind retry after a timeout would launch a second execution.
    deadline = time.monotonic() + 5
    while not fake.runs and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(fake.runs) == 1
    # Only the next request was affected.
    jobs.run_job(request=run_request(ENV), timeout=5)
    assert len(fake.runs) == 2


def test_latency_applies_to_every_run_and_bursts_run_concurrently(fake, jobs):
    fake.latency = 0.3
    started = time.monotonic()
    jobs.run_job(request=run_request(ENV))
    single = time.monotonic() - started
    assert single >= 0.3

    burst = 20
    started = time.monotonic()
    with ThreadPoolExecutor(burst) as pool:
        names = list(
            pool.map(lambda _: jobs.run_job(request=run_request(ENV)).metadata.name, range(burst))
        )
    elapsed = time.monotonic() - started
    assert len(set(names)) == burst
    # Serialised, 20 runs would take 6 s; the threaded fake answers them together.
    assert elapsed < 2.0, elapsed


def test_follow_execution_until_finished(fake, jobs, executions):
    name = jobs.run_job(request=run_request(ENV)).metadata.name

    running = executions.get_execution(name=name)
    assert running.name == name
    assert running.job == JOB
    assert running.task_count == 1
    assert running.running_count == 1
    assert running.succeeded_count == 0
    assert not running.completion_time
    completed = running.conditions[0]
    assert completed.type_ == "Completed"
    assert completed.state == run_v2.Condition.State.CONDITION_RECONCILING
    # The execution runs with the job's own env plus the overrides.
    assert {c.name: c.value for c in running.template.containers[0].env} == {
        **fake.job_env,
        **ENV,
    }
    assert fake.job_env == {"LOG_FORMAT": "json"}

    fake.finish(name)
    done = executions.get_execution(name=name)
    assert done.completion_time
    assert (done.running_count, done.succeeded_count, done.failed_count) == (0, 1, 0)
    assert done.conditions[0].state == run_v2.Condition.State.CONDITION_SUCCEEDED


def test_failed_execution_reports_failed_condition(fake, jobs, executions):
    operation = jobs.run_job(request=run_request(ENV))
    name = operation.metadata.name
    fake.finish(name.rsplit("/", 1)[1], succeeded=False)  # short id works too

    failed = executions.get_execution(name=name)
    assert (failed.succeeded_count, failed.failed_count) == (0, 1)
    condition = failed.conditions[0]
    assert condition.state == run_v2.Condition.State.CONDITION_FAILED
    assert condition.execution_reason == run_v2.Condition.ExecutionReason.NON_ZERO_EXIT_CODE
    assert "exit code of 1" in condition.message
    # The long-running operation ends with an error: result() raises.
    assert operation.done()
    with pytest.raises(exceptions.GoogleAPICallError, match="exit code of 1"):
        operation.result(timeout=5)


def test_finish_unknown_execution_is_an_error(fake):
    with pytest.raises(KeyError, match="no execution"):
        fake.finish("numerai-job-zzzzz")


def test_execution_seconds_complete_execution_and_operation(executions):
    with FakeCloudRun(project=PROJECT, region=REGION, execution_seconds=0.5) as fake:
        jobs = run_v2.JobsClient(
            transport="rest", credentials=AnonymousCredentials(), client_options=_opts(fake)
        )
        client = run_v2.ExecutionsClient(
            transport="rest", credentials=AnonymousCredentials(), client_options=_opts(fake)
        )
        operation = jobs.run_job(request=run_request(ENV))
        name = operation.metadata.name
        assert client.get_execution(name=name).running_count == 1
        # result() polls GET .../operations/O until done, then unpacks the Execution.
        result = operation.result(timeout=10)
        assert result.name == name
        assert result.succeeded_count == 1
        assert client.get_execution(name=name).completion_time
        polls = [r for r in fake.requests if "/operations/" in r.path]
        assert polls and all(r.method == "GET" and r.status == 200 for r in polls)


def test_get_unknown_execution_is_not_found(executions):
    with pytest.raises(exceptions.NotFound):
        executions.get_execution(name=f"{JOB_NAME}/executions/{JOB}-nope1")


def test_list_executions_newest_first_with_paging(fake, jobs, executions):
    names = [jobs.run_job(request=run_request(ENV)).metadata.name for _ in range(3)]
    jobs.run_job(request=run_request(ENV, f"projects/{PROJECT}/locations/{REGION}/jobs/other-job"))

    listed = [e.name for e in executions.list_executions(parent=JOB_NAME)]
    assert listed == names[::-1]
    # Paging: the pager follows nextPageToken across pages of 2.
    pager = executions.list_executions(
        request=run_v2.ListExecutionsRequest(parent=JOB_NAME, page_size=2)
    )
    assert [e.name for e in pager] == names[::-1]
    assert sum(1 for r in fake.requests if r.path.endswith("/executions")) == 3


def test_cancel_execution(fake, jobs, executions):
    name = jobs.run_job(request=run_request(ENV)).metadata.name
    operation = executions.cancel_execution(name=name)
    assert operation.metadata.name == name
    cancelled = executions.get_execution(name=name)
    assert cancelled.cancelled_count == 1
    assert cancelled.conditions[0].execution_reason == run_v2.Condition.ExecutionReason.CANCELLED
    with pytest.raises(exceptions.NotFound):
        executions.cancel_execution(name=f"{JOB_NAME}/executions/{JOB}-nope1")


def test_get_job_reports_latest_execution(fake, jobs):
    job = jobs.get_job(name=JOB_NAME)
    assert job.name == JOB_NAME
    assert job.execution_count == 0
    name = jobs.run_job(request=run_request(ENV)).metadata.name
    job = jobs.get_job(name=JOB_NAME)
    assert job.latest_created_execution.name == name
    with pytest.raises(exceptions.NotFound):
        jobs.get_job(name=f"projects/{PROJECT}/locations/{REGION}/jobs/missing")


def test_unknown_route_is_google_404(fake):
    response = requests.get(f"{fake.url}/v2/projects/{PROJECT}/nothing", timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


def test_requests_to_other_hosts_are_refused_and_recorded(fake):
    # Proxy-style request line for a real Google host: must never be served.
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    connection.request("GET", "http://oauth2.googleapis.com/token")
    response = connection.getresponse()
    assert response.status == 502
    assert "non-fake host" in json.loads(response.read())["error"]["message"]
    connection.close()

    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    connection.request("CONNECT", "run.googleapis.com:443")
    assert connection.getresponse().status == 405
    connection.close()

    assert [(r.method, r.host) for r in fake.foreign_requests] == [
        ("GET", "oauth2.googleapis.com"),
        ("CONNECT", "run.googleapis.com:443"),
    ]
    assert fake.runs == []


def test_proxy_style_request_to_fake_domain_is_served(fake):
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    connection.request(
        "GET", f"http://{REGION}-run.fake.test/v2/{JOB_NAME}", headers={"Host": "ignored"}
    )
    response = connection.getresponse()
    assert response.status == 200
    assert json.loads(response.read())["name"] == JOB_NAME
    connection.close()
    assert fake.foreign_requests == []
    assert fake.requests[0].host == f"{REGION}-run.fake.test"


def test_cli_serves_until_sigterm(tmp_path):
    url_file = tmp_path / "url"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fakes.cloudrun",
            "--port",
            "0",
            "--quiet",
            "--url-file",
            str(url_file),
            "--job",
            "cli-job",
            "--execution-seconds",
            "0",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not url_file.exists() and time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.05)
        url = url_file.read_text().strip()
        client = run_v2.JobsClient(
            transport="rest",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": url},
        )
        operation = client.run_job(
            request=run_request(ENV, f"projects/{PROJECT}/locations/{REGION}/jobs/cli-job")
        )
        # --execution-seconds 0: the execution is complete at once.
        assert operation.result(timeout=5).succeeded_count == 1
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_a_fault_after_the_run_leaves_the_execution_started() -> None:
    from google.api_core import exceptions as api

    with FakeCloudRun(project="p-fault", region="europe-west1") as fake:
        jobs, executions = _after_run_clients(fake)
        fake.fail_after_run(1, status=504)
        with pytest.raises(api.GatewayTimeout):
            jobs.run_job(name=_AFTER_RUN_JOB, retry=None)
        listed = list(executions.list_executions(parent=_AFTER_RUN_JOB))
        assert [e.name for e in listed] == [fake.runs[0].execution_name]
        fake.fail_listing(1, status=503)
        with pytest.raises(api.ServiceUnavailable):
            list(executions.list_executions(parent=_AFTER_RUN_JOB, retry=None))
        assert len(list(executions.list_executions(parent=_AFTER_RUN_JOB))) == 1


def test_backdate_makes_an_execution_older() -> None:
    with FakeCloudRun(project="p-fault", region="europe-west1") as fake:
        jobs, executions = _after_run_clients(fake)
        name = jobs.run_job(name=_AFTER_RUN_JOB).metadata.name
        before = executions.get_execution(name=name).create_time
        fake.backdate(name, 3600)
        after = executions.get_execution(name=name).create_time
        assert round((before - after).total_seconds()) == 3600


_AFTER_RUN_JOB = "projects/p-fault/locations/europe-west1/jobs/numerai-job"


def _after_run_clients(fake: FakeCloudRun):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import run_v2

    opts = {"credentials": AnonymousCredentials(), "client_options": {"api_endpoint": fake.url}}
    return (
        run_v2.JobsClient(transport="rest", **opts),
        run_v2.ExecutionsClient(transport="rest", **opts),
    )
