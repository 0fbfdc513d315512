"""What the Cloud Run fake records about each run, for `make report` and `make alerts`:
who created an execution, the v1 execution listing gcloud reads, Cloud Run's own log
entry for a failed execution, and severities compared by level in the Logging filter.
At the HTTP level, without gcloud (tests/report runs the whole thing through it)."""

from __future__ import annotations

import http.client
import json

import pytest

from fakes.cloudlogging import FilterError, matches
from fakes.cloudrun import FakeCloudRun
from fakes.cloudrun.records import UNKNOWN_CREATOR

PROJECT = "test-project"
REGION = "europe-west1"
JOB = "numerai-job"
HOST = f"{REGION}-run.fake.test"
V1 = f"/apis/run.googleapis.com/v1/namespaces/{PROJECT}"
V2_RUN = f"/v2/projects/{PROJECT}/locations/{REGION}/jobs/{JOB}:run"
DISPATCHER = "numerai-dispatcher@test-project.iam.gserviceaccount.com"


@pytest.fixture
def fake():
    creators = {None: DISPATCHER, "alices-token": "alice@example.com"}
    with FakeCloudRun(project=PROJECT, region=REGION, jobs=(JOB, "other-job"),
                      creators=creators) as server:
        yield server


def _call(fake: FakeCloudRun, method: str, path: str, token: str | None = None,
          host: str = HOST) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        body = b"{}" if method == "POST" else None
        connection.request(method, f"http://{host}{path}", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _v1_run(fake: FakeCloudRun, job: str = JOB, token: str | None = None) -> str:
    status, execution = _call(fake, "POST", f"{V1}/jobs/{job}:run", token)
    assert status == 200, execution
    return execution["metadata"]["name"]


def test_an_execution_records_who_created_it(fake: FakeCloudRun) -> None:
    mine = _v1_run(fake, token="alices-token")
    anonymous = _v1_run(fake)
    stranger = _v1_run(fake, token="someone-elses-token")
    status, operation = _call(fake, "POST", V2_RUN, host=f"127.0.0.1:{fake.port}")
    assert status == 200
    assert operation["metadata"]["creator"] == DISPATCHER
    creators = {}
    for name in (mine, anonymous, stranger):
        _, execution = _call(fake, "GET", f"{V1}/executions/{name}")
        creators[name] = execution["metadata"]["annotations"]["run.googleapis.com/creator"]
    assert creators == {mine: "alice@example.com", anonymous: DISPATCHER,
                        stranger: UNKNOWN_CREATOR}


def test_the_v1_listing_selects_by_job_newest_first_in_pages(fake: FakeCloudRun) -> None:
    first, second = _v1_run(fake), _v1_run(fake)
    fake.backdate(first, 60)
    other = _v1_run(fake, job="other-job")
    selector = "labelSelector=run.googleapis.com/job%20%3D%20numerai-job"
    status, page = _call(fake, "GET", f"{V1}/executions?{selector}&limit=1")
    assert status == 200 and page["kind"] == "ExecutionList"
    assert [x["metadata"]["name"] for x in page["items"]] == [second]
    _, rest = _call(fake, "GET", f"{V1}/executions?{selector}&limit=1&"
                    f"continue={page['metadata']['continue']}")
    assert [x["metadata"]["name"] for x in rest["items"]] == [first]
    assert rest["metadata"] == {}
    _, everything = _call(fake, "GET", f"{V1}/executions")
    assert {x["metadata"]["name"] for x in everything["items"]} == {first, second, other}


def test_an_unknown_label_selector_is_refused(fake: FakeCloudRun) -> None:
    status, answer = _call(fake, "GET", f"{V1}/executions?labelSelector=team%3Dx")
    assert status == 400
    assert "label selector" in answer["error"]["message"]


def test_a_failed_execution_gets_cloud_runs_own_entry(fake: FakeCloudRun) -> None:
    failed, fine = _v1_run(fake), _v1_run(fake)
    fake.finish(failed, succeeded=False)
    fake.finish(fine)
    (entry,) = fake.log_entries
    assert entry["logName"] == (
        f"projects/{PROJECT}/logs/cloudaudit.googleapis.com%2Fsystem_event")
    assert entry["severity"] == "ERROR"
    assert entry["resource"] == {"type": "cloud_run_job", "labels": {
        "project_id": PROJECT, "job_name": JOB, "location": REGION}}
    assert entry["protoPayload"]["status"]["message"] == (
        f"Execution {failed} has failed to complete, 0/1 tasks were a success.")


@pytest.mark.parametrize(
    ("severity", "selected"),
    [("WARNING", False), ("ERROR", True), ("CRITICAL", True), ("DEFAULT", False)],
)
def test_severity_compares_by_level(severity: str, selected: bool) -> None:
    assert matches({"severity": severity}, "severity>=ERROR") is selected


def test_a_severity_that_does_not_exist_is_a_filter_error() -> None:
    with pytest.raises(FilterError, match="cannot compare severity"):
        matches({"severity": "ERROR"}, "severity>=LOUD")
