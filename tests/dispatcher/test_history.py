"""Dedupe that survives restarts: the executions of our jobs are the ledger.

The real google-cloud-run clients (JobsClient to run, ExecutionsClient to list) against
the Cloud Run fake, which keeps each execution's overrides on its template as Cloud Run
does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from common.contract import ALL_MODELS, MODEL_ID_ENV, TRIGGER_ID_ENV
from dispatcher import history
from fakes.cloudrun import FakeCloudRun
from tests.dispatcher.conftest import MODEL_ID, OTHER_JOB, OTHER_MODEL_ID, body, pred_url
from tests.dispatcher.running import Dispatcher
from tests.dispatcher.test_process import cloud_env, post


async def test_a_new_instance_knows_what_the_last_one_launched(
    make_client, cloud_settings, fake_cloud_run
) -> None:
    first = await make_client(cloud_settings)
    launched = await first.post(pred_url(), json=body("trig-R"))
    other = await first.post(pred_url(OTHER_MODEL_ID), json=body("trig-R"))
    assert (launched.status, other.status) == (202, 202)
    answers = (await launched.json(), await other.json())
    await first.close()  # the instance goes away (scale to zero, restart, new revision)

    second = await make_client(cloud_settings)
    again = await second.post(pred_url(), json=body("trig-R"))
    again_other = await second.post(pred_url(OTHER_MODEL_ID), json=body("trig-R"))

    assert (again.status, again_other.status) == (200, 200)
    assert (await again.json(), await again_other.json()) == answers
    assert len(fake_cloud_run.runs) == 2  # one per model; the repeats launched nothing
    # The new instance still launches new triggers.
    assert (await second.post(pred_url(), json=body("trig-S"))).status == 202
    assert len(fake_cloud_run.runs) == 3


async def test_history_is_read_once_per_job_of_the_registry(
    make_client, cloud_settings, fake_cloud_run
) -> None:
    client = await make_client(cloud_settings)
    assert (await client.post(pred_url(), json=body("t1"))).status == 202
    lists = [r for r in fake_cloud_run.requests if r.method == "GET" and "/executions" in r.path]
    jobs = sorted(r.path.split("/jobs/")[1].split("/")[0] for r in lists)
    assert jobs == sorted(["numerai-job", OTHER_JOB])


def test_a_restarted_dispatcher_process_does_not_launch_a_trigger_again(
    registry_file: Path, tmp_path: Path
) -> None:
    # OTHER_JOB, the registry's second job, is not deployed: it has launched nothing.
    with FakeCloudRun(project="test-project", region="europe-west1") as fake:
        answers = []
        for run in range(2):
            proc = Dispatcher(cloud_env(registry_file, fake), tmp_path / f"dispatcher{run}.log")
            try:
                proc.wait_ready()
                answers.append(post(f"{proc.url}{pred_url()}", body("trig-P")))
            finally:
                assert proc.stop() == 0
        assert [status for status, _ in answers] == [202, 200]
        assert answers[0][1] == answers[1][1]
        assert len(fake.runs) == 1
        log = (tmp_path / "dispatcher1.log").read_text()
        seeded = [json.loads(x) for x in log.splitlines() if '"event": "history"' in x]
        assert seeded and seeded[0]["launches"] == 1


def _execution(env: dict[str, str], name: str = "projects/p/locations/l/jobs/j/executions/j-1"):
    from google.cloud import run_v2

    container = run_v2.Container(env=[run_v2.EnvVar(name=k, value=v) for k, v in env.items()])
    return run_v2.Execution(name=name, template=run_v2.TaskTemplate(containers=[container]))


@pytest.mark.parametrize(
    "env",
    [
        {MODEL_ID_ENV: ALL_MODELS, TRIGGER_ID_ENV: "t"},  # a scheduled run of every model
        {MODEL_ID_ENV: f"{MODEL_ID},{OTHER_MODEL_ID}", TRIGGER_ID_ENV: "t"},  # several
        {MODEL_ID_ENV: MODEL_ID},  # a manual run without a trigger
        {},
    ],
)
def test_executions_that_name_no_single_model_and_trigger_are_not_launches(
    env: dict[str, Any],
) -> None:
    assert history.past_launch(_execution(env)) is None


def test_a_webhook_execution_is_read_back_as_its_launch() -> None:
    env = {MODEL_ID_ENV: MODEL_ID.upper(), "NUMERAI_ROUND": "test", TRIGGER_ID_ENV: "t-9"}
    launch = history.past_launch(_execution(env))
    assert launch is not None
    assert launch.key == (MODEL_ID, "t-9")
    assert launch.round == "test"
    assert launch.launched.execution == "j-1"


# --- a :run whose outcome is unknown ---------------------------------------------------


@pytest.fixture
async def client(make_client: Any, cloud_settings: Any) -> Any:
    return await make_client(cloud_settings)


@pytest.mark.parametrize("status", [500, 504])
async def test_a_500_or_504_that_started_the_execution_is_not_retried(
    client, fake_cloud_run, status
) -> None:
    fake_cloud_run.fail_after_run(1, status=status)
    resp = await client.post(pred_url(), json=body("trig-A"))

    assert resp.status == 202  # this delivery started it: found, not started again
    [run] = fake_cloud_run.runs
    assert (await resp.json())["execution_name"] == run.execution_name


async def test_a_500_before_anything_started_is_retried(client, fake_cloud_run) -> None:
    fake_cloud_run.fail_next(1, status=500)  # refused before the run was admitted
    resp = await client.post(pred_url(), json=body("trig-B"))
    assert resp.status == 202
    assert len(fake_cloud_run.runs) == 1


async def test_when_the_lookup_fails_too_nothing_is_launched_until_it_can_look(
    client, fake_cloud_run
) -> None:
    # A first webhook: it waits for the start-up read of the history, which lists too.
    assert (await client.post(pred_url(), json=body("warm-up"))).status == 202
    fake_cloud_run.fail_after_run(1, status=504)
    fake_cloud_run.fail_listing(1, status=503)
    first = await client.post(pred_url(), json=body("trig-C"))
    assert first.status == 503
    assert "cannot tell whether the run already started" in (await first.json())["error"]
    assert len(fake_cloud_run.runs) == 2

    again = await client.post(pred_url(), json=body("trig-C"))  # Numerai's retry
    assert again.status == 200  # found: started by the first delivery
    assert (await again.json())["execution_name"] == fake_cloud_run.runs[1].execution_name
    assert len(fake_cloud_run.runs) == 2


async def test_a_timed_out_run_that_started_is_found_not_started_again(
    make_client, cloud_settings, fake_cloud_run
) -> None:
    # The API starts the execution but answers after the client gave up (1 s here).
    fake_cloud_run.hang_after_run(1, seconds=2.5)
    client = await make_client(_with_attempts(cloud_settings, attempts=3))
    first = await client.post(pred_url(), json=body("trig-T"))
    assert first.status == 202
    assert (await first.json())["execution_name"] == fake_cloud_run.runs[0].execution_name
    assert len(fake_cloud_run.runs) == 1

    again = await client.post(pred_url(), json=body("trig-T"))
    assert again.status == 200
    assert len(fake_cloud_run.runs) == 1


async def test_a_timed_out_run_not_yet_listed_is_looked_for_on_the_next_delivery(
    make_client, cloud_settings, fake_cloud_run
) -> None:
    client = await make_client(cloud_settings)
    assert (await client.post(pred_url(), json=body("warm-up"))).status == 202
    fake_cloud_run.hang_after_run(1, seconds=2.5)
    fake_cloud_run.fail_listing(1, status=503)  # the lookup right after cannot tell
    first = await client.post(pred_url(), json=body("trig-T"))
    assert first.status == 503
    assert len(fake_cloud_run.runs) == 2

    again = await client.post(pred_url(), json=body("trig-T"))  # Numerai's retry
    assert again.status == 200
    assert (await again.json())["execution_name"] == fake_cloud_run.runs[1].execution_name
    assert len(fake_cloud_run.runs) == 2


async def test_unreadable_history_leaves_the_service_working(
    make_client, cloud_settings, fake_cloud_run, caplog
) -> None:
    fake_cloud_run.fail_listing(2, status=403)  # both jobs' listings are refused
    client = await make_client(cloud_settings)
    resp = await client.post(pred_url(), json=body("t1"))
    assert resp.status == 202
    assert "recent executions could not be read" in caplog.text


async def test_launches_older_than_the_window_are_forgotten(
    make_client, cloud_settings, fake_cloud_run
) -> None:
    first = await make_client(cloud_settings)
    assert (await first.post(pred_url(), json=body("trig-O"))).status == 202
    await first.close()
    fake_cloud_run.backdate(fake_cloud_run.runs[0].execution_name, 25 * 3600)

    second = await make_client(cloud_settings)
    # Beyond history.WINDOW (24 h) a repeat is a new launch: the documented limit.
    assert (await second.post(pred_url(), json=body("trig-O"))).status == 202
    assert len(fake_cloud_run.runs) == 2


def _with_attempts(settings, **changes):
    import dataclasses

    retry = dataclasses.replace(settings.backend.retry, **changes)
    return dataclasses.replace(settings, backend=dataclasses.replace(settings.backend, retry=retry))
