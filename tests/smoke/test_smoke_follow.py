"""make smoke's execution stage, against FakeCloudRun through the real ExecutionsClient:
each outcome, the bounded wait, a refusal, and an API that keeps failing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2

from fakes.cloudrun import FakeCloudRun
from local.sandbox import free_port
from ops.smoke.execution import MAX_POLL_ERRORS, follow_execution
from ops.smoke.stage import SmokeFailed

PROJECT, REGION, JOB = "test-project", "europe-west1", "numerai-job"
POLL = 0.05


@pytest.fixture
def fake() -> Iterator[FakeCloudRun]:
    with FakeCloudRun(project=PROJECT, region=REGION) as server:
        yield server


def _client(url: str) -> run_v2.ExecutionsClient:
    return run_v2.ExecutionsClient(transport="rest", credentials=AnonymousCredentials(),
                                   client_options={"api_endpoint": url})


def _start(fake: FakeCloudRun) -> str:
    jobs = run_v2.JobsClient(transport="rest", credentials=AnonymousCredentials(),
                             client_options={"api_endpoint": fake.url})
    return jobs.run_job(name=f"projects/{PROJECT}/locations/{REGION}/jobs/{JOB}").metadata.name


@pytest.mark.parametrize(("succeeded", "state"), [(True, "succeeded"), (False, "failed")])
def test_follows_until_it_finishes(fake: FakeCloudRun, succeeded: bool, state: str) -> None:
    name = _start(fake)
    said: list[str] = []

    def say(line: str) -> None:
        # The execution finishes once it has been seen running: the next poll sees the end.
        said.append(line)
        fake.finish(name, succeeded=succeeded)

    outcome = follow_execution(_client(fake.url), name, timeout=30, poll=POLL, say=say)
    assert outcome.state == state
    # Measured at the poll that saw the end, one poll interval after the first.
    assert outcome.seconds >= POLL
    assert said == [f"execution {name.rsplit('/', 1)[-1]} running (0 s)"]
    if not succeeded:
        assert "exit code of 1" in outcome.message


def test_a_cancelled_execution(fake: FakeCloudRun) -> None:
    name = _start(fake)
    _client(fake.url).cancel_execution(name=name)
    outcome = follow_execution(_client(fake.url), name, timeout=30, poll=POLL, say=print)
    assert outcome.state == "cancelled"


def test_the_wait_is_bounded(fake: FakeCloudRun) -> None:
    name = _start(fake)
    short = name.rsplit("/", 1)[-1]
    with pytest.raises(SmokeFailed) as failed:
        follow_execution(_client(fake.url), name, timeout=0.3, poll=POLL, say=print)
    assert failed.value.stage == "execution"
    assert f"{short} has not finished after 0 s" in failed.value.reason
    assert f"make cancel EXECUTION={short}" in failed.value.reason


def test_an_unknown_execution_is_refused_at_once(fake: FakeCloudRun) -> None:
    name = f"projects/{PROJECT}/locations/{REGION}/jobs/{JOB}/executions/{JOB}-zzzzz"
    with pytest.raises(SmokeFailed) as failed:
        follow_execution(_client(fake.url), name, timeout=30, poll=POLL, say=print)
    assert "refused to show" in failed.value.reason and "404" in failed.value.reason
    assert len(fake.requests) == 1  # no retry on a refusal


def test_an_api_that_keeps_failing_is_given_up_on() -> None:
    said: list[str] = []
    name = f"projects/{PROJECT}/locations/{REGION}/jobs/{JOB}/executions/{JOB}-zzzzz"
    # Nothing listens there: every call is a connection error (a named transient one).
    with pytest.raises(SmokeFailed) as failed:
        follow_execution(_client(f"http://127.0.0.1:{free_port()}"), name, timeout=60,
                         poll=POLL, say=said.append)
    assert failed.value.reason.startswith("Cloud Run API keeps failing")
    assert len(said) == MAX_POLL_ERRORS
