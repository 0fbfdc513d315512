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
