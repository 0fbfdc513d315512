"""FakeCloudRun's executor hook and its Cloud Logging endpoint (fakes/executions.py,
fakes/cloudlogging.py), driven through the real google-cloud-run client."""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Iterator

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2
from google.protobuf import duration_pb2

from fakes import cloudlogging
from fakes.cloudlogging import OutputLine, job_log_entries, list_entries
from fakes.cloudrun import FakeCloudRun
from fakes.executions import TIMEOUT_EXIT_CODE, JobProcessExecutor

PROJECT, REGION, JOB = "test-project", "europe-west1", "numerai-job"
JOB_NAME = f"projects/{PROJECT}/locations/{REGION}/jobs/{JOB}"
# A stand-in for `python -m job`: prints one structured line with what it was given, one
# plain line on stderr, sleeps SLEEP seconds, exits with CODE.
TASK = """
import json, os, sys, time
env = {k: os.environ.get(k) for k in ("NUMERAI_MODEL_ID", "TRIGGER_ID", "LOG_FORMAT", "BASE",
       "CLOUD_RUN_JOB", "CLOUD_RUN_EXECUTION", "CLOUD_RUN_TASK_INDEX", "CLOUD_RUN_TASK_COUNT")}
print(json.dumps({"severity": "warning", "message": "task says hi", "env": env,
                  "logging.googleapis.com/labels": {"model_id": os.environ["NUMERAI_MODEL_ID"]}}),
      flush=True)
print("a plain line", file=sys.stderr, flush=True)
time.sleep(float(os.environ.get("SLEEP", "0")))
sys.exit(int(os.environ.get("CODE", "0")))
"""
WAIT = 30.0


@pytest.fixture
def executor() -> JobProcessExecutor:
    return JobProcessExecutor({"BASE": "from-base"}, command=(sys.executable, "-c", TASK))


@pytest.fixture
def fake(executor: JobProcessExecutor) -> Iterator[FakeCloudRun]:
    with FakeCloudRun(project=PROJECT, region=REGION, executor=executor) as server:
        yield server


def _clients(fake: FakeCloudRun) -> tuple[run_v2.JobsClient, run_v2.ExecutionsClient]:
    opts = {"credentials": AnonymousCredentials(), "client_options": {"api_endpoint": fake.url}}
    return run_v2.JobsClient(transport="rest", **opts), run_v2.ExecutionsClient(
        transport="rest", **opts
    )


def _run(fake: FakeCloudRun, env: dict[str, str], tasks: int = 1, timeout: int | None = None):
    jobs, executions = _clients(fake)
    overrides = run_v2.RunJobRequest.Overrides(
        container_overrides=[
            run_v2.RunJobRequest.Overrides.ContainerOverride(
                env=[run_v2.EnvVar(name=k, value=v) for k, v in env.items()]
            )
        ],
        task_count=tasks,
        timeout=duration_pb2.Duration(seconds=timeout) if timeout else None,
    )
    operation = jobs.run_job(request=run_v2.RunJobRequest(name=JOB_NAME, overrides=overrides))
    return operation.metadata.name, executions


def _entries(fake: FakeCloudRun, filter_: str) -> list[dict]:
    status, payload = list_entries(
        fake.log_entries, {"resourceNames": [f"projects/{PROJECT}"], "filter": filter_}
    )
    assert status == 200, payload
    return payload.get("entries", [])


def test_tasks_run_with_the_cloud_run_environment_and_their_output_becomes_logs(
    fake: FakeCloudRun, executor: JobProcessExecutor
) -> None:
    name, executions = _run(fake, {"NUMERAI_MODEL_ID": "m-1", "TRIGGER_ID": "t-1"}, tasks=2)
    short = name.rsplit("/", 1)[-1]
    assert fake.wait_executions(WAIT)
    execution = executions.get_execution(name=name)
    assert execution.succeeded_count == 2 and execution.completion_time
    tasks = executor.runs[short]
    assert [t.exit_code for t in tasks] == [0, 0]
    envs = [json.loads(t.stdout)["env"] for t in tasks]
    assert envs == [
        {
            "NUMERAI_MODEL_ID": "m-1",
            "TRIGGER_ID": "t-1",
            "LOG_FORMAT": "json",
            "BASE": "from-base",
            "CLOUD_RUN_JOB": JOB,
            "CLOUD_RUN_EXECUTION": short,
            "CLOUD_RUN_TASK_INDEX": str(i),
            "CLOUD_RUN_TASK_COUNT": "2",
        }
        for i in range(2)
    ]
    entries = _entries(fake, f'labels."run.googleapis.com/execution_name"="{short}"')
    assert len(entries) == 4
    structured = [e for e in entries if "jsonPayload" in e]
    assert {e["labels"]["run.googleapis.com/task_index"] for e in structured} == {"0", "1"}
    first = structured[0]
    assert first["severity"] == "WARNING"
    assert first["labels"]["model_id"] == "m-1"
    assert first["jsonPayload"]["message"] == "task says hi"
    assert "logging.googleapis.com/labels" not in first["jsonPayload"]
    assert first["resource"] == {
        "type": "cloud_run_job",
        "labels": {"project_id": PROJECT, "job_name": JOB, "location": REGION},
    }
    plain = [e for e in entries if "textPayload" in e]
    assert {e["textPayload"] for e in plain} == {"a plain line"}
    assert all(e["logName"].endswith("run.googleapis.com%2Fstderr") for e in plain)


def test_a_non_zero_exit_fails_the_execution(fake: FakeCloudRun) -> None:
    name, executions = _run(fake, {"NUMERAI_MODEL_ID": "m", "CODE": "3"})
    assert fake.wait_executions(WAIT)
    execution = executions.get_execution(name=name)
    assert execution.failed_count == 1 and execution.succeeded_count == 0
    assert [c.state for c in execution.conditions if c.type_ == "Completed"] == [
        run_v2.Condition.State.CONDITION_FAILED
    ]


def test_a_task_past_its_timeout_is_killed(
    fake: FakeCloudRun, executor: JobProcessExecutor
) -> None:
    name, executions = _run(fake, {"NUMERAI_MODEL_ID": "m", "SLEEP": "30"}, timeout=1)
    assert fake.wait_executions(WAIT)
    assert executor.runs[name.rsplit("/", 1)[-1]][0].exit_code == TIMEOUT_EXIT_CODE
    assert executions.get_execution(name=name).failed_count == 1


def test_a_cancel_while_running_stays_cancelled(fake: FakeCloudRun) -> None:
    name, executions = _run(fake, {"NUMERAI_MODEL_ID": "m", "SLEEP": "1"})
    executions.cancel_execution(name=name)
    assert fake.wait_executions(WAIT)
    assert executions.get_execution(name=name).cancelled_count == 1


def test_gcloud_s_v1_run_executes_too(fake: FakeCloudRun, executor: JobProcessExecutor) -> None:
    body = {
        "overrides": {
            "containerOverrides": [{"env": [{"name": "NUMERAI_MODEL_ID", "value": "v1-model"}]}],
            "taskCount": 1,
        }
    }
    request = urllib.request.Request(
        f"{fake.url}/apis/run.googleapis.com/v1/namespaces/{PROJECT}/jobs/{JOB}:run",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Host": f"{REGION}-run.fake.test"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        short = json.loads(resp.read())["metadata"]["name"]
    assert fake.wait_executions(WAIT)
    assert json.loads(executor.runs[short][0].stdout)["env"]["NUMERAI_MODEL_ID"] == "v1-model"


def test_without_an_executor_nothing_runs_and_no_logs_appear() -> None:
    with FakeCloudRun(project=PROJECT, region=REGION) as fake:
        name, executions = _run(fake, {"NUMERAI_MODEL_ID": "m"})
        assert not executions.get_execution(name=name).completion_time
        assert fake.log_entries == []


# --- the Logging endpoint's filter -------------------------------------------------------


def _entry(execution: str, model: str, when: float, event: str = "x") -> dict:
    line = json.dumps(
        {"message": event, "event": event, "logging.googleapis.com/labels": {"model_id": model}}
    )
    return job_log_entries(
        project=PROJECT,
        region=REGION,
        job=JOB,
        execution=execution,
        task_index=0,
        lines=[OutputLine(line, when)],
    )[0]


ENTRIES = [
    _entry("numerai-job-aaaaa", "m1", 1_700_000_000.0, "downloaded"),
    _entry("numerai-job-aaaaa", "m1", 1_700_000_010.0, "submitted"),
    _entry("numerai-job-bbbbb", "m2", 1_700_000_005.0, "failed"),
    _entry("numerai-job-ccccc", "m3", 1_600_000_000.0, "old"),
]


@pytest.mark.parametrize(
    ("filter_", "events"),
    [
        (
            'resource.type="cloud_run_job" AND labels."run.googleapis.com/execution_name"='
            '"numerai-job-aaaaa" AND timestamp>="2023-11-14T00:00:00Z"',
            ["downloaded", "submitted"],
        ),
        (
            'resource.type="cloud_run_job" AND (labels.model_id="m1" OR labels.model_id="m2") AND '
            'timestamp>="2023-11-14T00:00:00Z"',
            ["downloaded", "failed", "submitted"],
        ),
        ('timestamp<"2023-11-14T00:00:00Z"', ["old"]),
        ('NOT labels.model_id="m1" jsonPayload.event:"fail"', ["failed"]),
        ('resource.type="gce_instance"', []),
        ("", ["old", "downloaded", "failed", "submitted"]),
    ],
)
def test_filters(filter_: str, events: list[str]) -> None:
    status, payload = list_entries(
        ENTRIES,
        {"resourceNames": [f"projects/{PROJECT}"], "filter": filter_, "orderBy": "timestamp asc"},
    )
    assert status == 200, payload
    assert [e["jsonPayload"]["event"] for e in payload.get("entries", [])] == events


def test_order_paging_and_projects() -> None:
    body = {"resourceNames": [f"projects/{PROJECT}"], "orderBy": "timestamp desc", "pageSize": 3}
    status, first = list_entries(ENTRIES, body)
    assert status == 200
    assert [e["jsonPayload"]["event"] for e in first["entries"]] == [
        "submitted",
        "failed",
        "downloaded",
    ]
    _, rest = list_entries(ENTRIES, {**body, "pageToken": first["nextPageToken"]})
    assert [e["jsonPayload"]["event"] for e in rest["entries"]] == ["old"]
    assert "nextPageToken" not in rest
    assert list_entries(ENTRIES, {"resourceNames": ["projects/other"]}) == (200, {})


@pytest.mark.parametrize(
    "body",
    [
        {"resourceNames": [], "filter": ""},
        {"resourceNames": [f"projects/{PROJECT}"], "filter": 'labels.x="a" AND ('},
        {"resourceNames": [f"projects/{PROJECT}"], "filter": 'timestamp>="yesterday"'},
        {"resourceNames": [f"projects/{PROJECT}"], "filter": "labels.x ~ 1"},
        {"resourceNames": [f"projects/{PROJECT}"], "orderBy": "severity"},
    ],
)
def test_what_it_does_not_understand_is_a_400(body: dict) -> None:
    status, payload = list_entries(ENTRIES, body)
    assert status == 400
    assert payload["error"]["status"] == "INVALID_ARGUMENT"


def test_unstructured_and_blank_lines() -> None:
    entries = cloudlogging.job_log_entries(
        project=PROJECT,
        region=REGION,
        job=JOB,
        execution="e",
        task_index=3,
        lines=[
            OutputLine("{not json\n", 1.0),
            OutputLine("   \n", 2.0),
            OutputLine('{"severity": "LOUD", "message": "m"}', 3.0),
        ],
    )
    assert [e.get("textPayload") for e in entries] == ["{not json", None]
    assert entries[1]["severity"] == "DEFAULT"  # an unknown severity is DEFAULT
    assert entries[1]["labels"]["run.googleapis.com/task_index"] == "3"


def test_a_failed_task_is_retried_with_the_attempt_counting_up(fake: FakeCloudRun) -> None:
    # Fails while CLOUD_RUN_TASK_ATTEMPT is 0, succeeds on the retry.
    flaky = "import os, sys; print(os.environ['CLOUD_RUN_TASK_ATTEMPT']); " + (
        "sys.exit(os.environ['CLOUD_RUN_TASK_ATTEMPT'] == '0')"
    )
    fake.executor = JobProcessExecutor({}, command=(sys.executable, "-c", flaky), max_retries=1)
    name, executions = _run(fake, {"NUMERAI_MODEL_ID": "m-1"})
    assert fake.wait_executions(WAIT)
    short = name.rsplit("/", 1)[-1]
    attempts = fake.executor.attempts[short]
    assert [(t.attempt, t.exit_code, t.stdout.strip()) for t in attempts] == [
        (0, 1, "0"),
        (1, 0, "1"),
    ]
    assert executions.get_execution(name=name).succeeded_count == 1


def test_without_retries_a_failed_task_runs_once(fake: FakeCloudRun) -> None:
    fake.executor = JobProcessExecutor({}, command=(sys.executable, "-c", "raise SystemExit(3)"))
    name, executions = _run(fake, {"NUMERAI_MODEL_ID": "m-1"})
    assert fake.wait_executions(WAIT)
    assert [t.exit_code for t in fake.executor.attempts[name.rsplit("/", 1)[-1]]] == [3]
    assert executions.get_execution(name=name).failed_count == 1
