"""The Cloud Run path through the real google-cloud-run client against FakeCloudRun."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from dispatcher import cloudrun, runjob
from dispatcher.settings import CloudRunSettings, RetryPolicy, Settings
from fakes.cloudrun import FakeCloudRun
from tests.dispatcher.conftest import (
    MODEL_ID,
    OTHER_JOB,
    OTHER_MODEL_ID,
    PROJECT,
    REGION,
    body,
    pred_url,
)


def _with_cloud_run(settings: Settings, **changes: Any) -> Settings:
    assert isinstance(settings.backend, CloudRunSettings)
    return dataclasses.replace(settings, backend=dataclasses.replace(settings.backend, **changes))


def _with_retry(settings: Settings, **changes: Any) -> Settings:
    assert isinstance(settings.backend, CloudRunSettings)
    return _with_cloud_run(settings, retry=dataclasses.replace(settings.backend.retry, **changes))


@pytest.fixture(params=["fast", "client"])
async def client(request: Any, make_client: Any, cloud_settings: Settings) -> Any:
    """The app with the launcher it opens itself (the fast RunJob path), and with one on
    the plain ``JobsClient.run_job`` path (the fallback): every test runs on both."""
    if request.param == "fast":
        yield await make_client(cloud_settings)
        return
    backend = cloud_settings.backend
    assert isinstance(backend, CloudRunSettings)
    run_v2_client = cloudrun._make_client(backend)
    executions = cloudrun._make_executions_client(backend)
    executor = ThreadPoolExecutor(max_workers=cloudrun.LAUNCH_THREADS)
    launcher = cloudrun.CloudRunLauncher(
        backend, run_v2_client, executor, executions, runjob.ClientRunJob(run_v2_client, executor)
    )
    yield await make_client(cloud_settings, launcher=launcher)
    executor.shutdown()
    run_v2_client.transport.close()
    executions.transport.close()


async def test_run_request_carries_exactly_the_four_overrides(client, fake_cloud_run) -> None:
    resp = await client.post(pred_url(), json=body("trig-A"))
    assert resp.status == 202
    answer = await resp.json()
    [run] = fake_cloud_run.runs
    assert run.api == "v2"
    assert (run.project, run.region, run.job) == (PROJECT, REGION, "numerai-job")
    assert run.env == {
        "NUMERAI_MODEL_ID": MODEL_ID,
        "NUMERAI_ROUND": "842",
        "TRIGGER_ID": "trig-A",
        "NUMERAI_IS_TEST": "false",
    }
    # One container override, nothing but env in it; one task per webhook.
    [container] = run.body["overrides"]["containerOverrides"]
    assert set(container) == {"env"}
    assert run.task_count == 1
    assert answer["execution_name"] == run.execution_name
    assert answer["execution"] == run.execution_name.rsplit("/", 1)[1]
    assert answer["execution_name"].startswith(
        f"projects/{PROJECT}/locations/{REGION}/jobs/numerai-job/executions/numerai-job-"
    )


async def test_test_webhook_overrides(client, fake_cloud_run) -> None:
    resp = await client.post(pred_url(), json=body("trig-T", "test", isTest=True))
    assert resp.status == 202
    assert fake_cloud_run.runs[0].env["NUMERAI_ROUND"] == "test"
    assert fake_cloud_run.runs[0].env["NUMERAI_IS_TEST"] == "true"


async def test_registry_job_is_the_job_run(client, fake_cloud_run) -> None:
    resp = await client.post(pred_url(OTHER_MODEL_ID), json=body("trig-B"))
    assert resp.status == 202
    [run] = fake_cloud_run.runs
    assert run.job == OTHER_JOB
    assert run.env["NUMERAI_MODEL_ID"] == OTHER_MODEL_ID
    assert f"/jobs/{OTHER_JOB}/executions/" in (await resp.json())["execution_name"]


async def test_sequential_duplicate_answers_200_and_runs_once(client, fake_cloud_run) -> None:
    first = await client.post(pred_url(), json=body("trig-D"))
    second = await client.post(pred_url(), json=body("trig-D"))
    assert (first.status, second.status) == (202, 200)
    assert await first.json() == await second.json()
    assert len(fake_cloud_run.runs) == 1


async def test_twenty_concurrent_duplicates_start_one_execution(client, fake_cloud_run) -> None:
    fake_cloud_run.latency = 0.3  # all 20 arrive while the first run is in flight
    responses = await asyncio.gather(
        *[client.post(pred_url(), json=body("trig-C")) for _ in range(20)]
    )
    assert sorted(r.status for r in responses) == [200] * 19 + [202]
    answers = {json.dumps(await r.json(), sort_keys=True) for r in responses}
    assert len(answers) == 1
    assert len(fake_cloud_run.runs) == 1


async def test_burst_of_distinct_triggers_runs_in_parallel(client, fake_cloud_run) -> None:
    fake_cloud_run.latency = 0.3
    started = time.perf_counter()
    responses = await asyncio.gather(
        *[client.post(pred_url(), json=body(f"trig-{i}")) for i in range(40)]
    )
    elapsed = time.perf_counter() - started
    assert [r.status for r in responses] == [202] * 40
    assert len(fake_cloud_run.runs) == 40
    # Serial calls would take 12 s; a small default pool ~2 s.
    assert elapsed < 1.5, elapsed


@pytest.mark.parametrize("status", [403, 404, 400])
async def test_refusal_is_502_records_nothing_and_a_retry_launches(
    client, fake_cloud_run, status
) -> None:
    fake_cloud_run.fail_next(1, status=status)
    resp = await client.post(pred_url(), json=body("trig-R"))
    assert resp.status == 502
    assert "Cloud Run refused the run" in (await resp.json())["error"]
    assert fake_cloud_run.runs == []
    # Refusals are not retried by the dispatcher: exactly one request reached the fake.
    assert len([r for r in fake_cloud_run.requests if r.path.endswith(":run")]) == 1
    retry = await client.post(pred_url(), json=body("trig-R"))
    assert retry.status == 202
    assert len(fake_cloud_run.runs) == 1


async def test_missing_job_is_502(make_client, cloud_settings, fake_cloud_run) -> None:
    settings = _with_cloud_run(cloud_settings, default_job="gone")
    client = await make_client(settings)
    resp = await client.post(pred_url(), json=body("trig-M"))
    assert resp.status == 502
    assert "'gone' of kind 'JOB'" in (await resp.json())["error"]
    assert fake_cloud_run.runs == []


@pytest.mark.parametrize("status", [500, 503, 504])
async def test_one_transient_error_is_retried_within_the_request(
    client, fake_cloud_run, status
) -> None:
    fake_cloud_run.fail_next(1, status=status)
    resp = await client.post(pred_url(), json=body("trig-S"))
    assert resp.status == 202
    [run] = fake_cloud_run.runs
    assert (await resp.json())["execution_name"] == run.execution_name


async def test_persistent_5xx_is_503_records_nothing_then_a_retry_launches(
    client, fake_cloud_run
) -> None:
    fake_cloud_run.fail_next(3, status=503)  # every attempt of the first webhook
    resp = await client.post(pred_url(), json=body("trig-F"))
    assert resp.status == 503
    assert "unavailable" in (await resp.json())["error"]
    assert fake_cloud_run.runs == []
    retry = await client.post(pred_url(), json=body("trig-F"))
    assert retry.status == 202
    assert len(fake_cloud_run.runs) == 1


async def test_quota_429_is_503_without_retrying(client, fake_cloud_run) -> None:
    fake_cloud_run.fail_next(1, status=429)
    resp = await client.post(pred_url(), json=body("trig-Q"))
    assert resp.status == 503
    assert fake_cloud_run.runs == []
    assert (await client.post(pred_url(), json=body("trig-Q"))).status == 202


async def test_timed_out_call_is_503_records_nothing_then_a_retry_launches(
    make_client, cloud_settings, fake_cloud_run
) -> None:
    client = await make_client(_with_retry(cloud_settings, call_timeout_s=0.5))
    fake_cloud_run.hang_next(1, seconds=2.0)
    started = time.perf_counter()
    resp = await client.post(pred_url(), json=body("trig-H"))
    elapsed = time.perf_counter() - started
    assert resp.status == 503
    assert "did not answer in time" in (await resp.json())["error"]
    assert elapsed < 1.5, "the call must be bounded by call_timeout_s"
    retry = await client.post(pred_url(), json=body("trig-H"))
    assert retry.status == 202
    # The retry's execution is a fresh one (the timed-out call was not recorded).
    assert (await retry.json())["execution_name"] in {r.execution_name for r in fake_cloud_run.runs}


async def test_unreachable_api_is_retried_then_503(make_client, cloud_settings) -> None:
    # A port nobody listens on: connection refused on every attempt.
    fake = FakeCloudRun(project=PROJECT, region=REGION).start()
    dead_url = fake.url
    fake.stop()
    settings = _with_cloud_run(cloud_settings, api_endpoint=dead_url)
    client = await make_client(settings)
    resp = await client.post(pred_url(), json=body("trig-U"))
    assert resp.status == 503
    assert "cannot reach the Cloud Run API" in (await resp.json())["error"]


async def test_retries_back_off_and_stop_at_the_attempt_bound(
    make_client, cloud_settings, fake_cloud_run
) -> None:
    client = await make_client(_with_retry(cloud_settings, attempts=3, backoff_s=0.1, budget_s=5.0))
    fake_cloud_run.fail_next(5, status=503)
    started = time.perf_counter()
    resp = await client.post(pred_url(), json=body("trig-B1"))
    elapsed = time.perf_counter() - started
    assert resp.status == 503
    run_calls = [r for r in fake_cloud_run.requests if r.path.endswith(":run")]
    assert len(run_calls) == 3
    assert elapsed >= 0.1 + 0.2  # the two pauses, doubling


def test_retry_policy_rejects_nonsense() -> None:
    from dispatcher.settings import SettingsError

    with pytest.raises(SettingsError):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize(
    ("payload", "round_read", "is_test"),
    [(body("trig-J"), 842, False), (body("trig-JT", "test", isTest=True), "test", True)],
)
async def test_the_job_reads_the_overrides_the_dispatcher_sends(
    client, fake_cloud_run, payload, round_read, is_test
) -> None:
    from job.settings import load_settings  # the job's own parser (tests may import it)

    assert (await client.post(pred_url(), json=payload)).status == 202
    [run] = fake_cloud_run.runs
    read = load_settings([], run.env)
    assert read.model_ids == (MODEL_ID,)
    assert read.round == round_read
    assert read.trigger_id == payload["triggerId"]
    assert read.is_test is is_test


async def test_proxy_variables_in_the_environment_do_not_divert_launches(
    client, fake_cloud_run, monkeypatch
) -> None:
    # The client's session ignores the environment (no per-call proxy/netrc lookups):
    # a stray proxy variable must not send the launch anywhere but the API endpoint.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    resp = await client.post(pred_url(), json=body("trig-proxy"))
    assert resp.status == 202, await resp.text()
    assert [run.env["TRIGGER_ID"] for run in fake_cloud_run.runs] == ["trig-proxy"]


async def test_opening_the_launcher_freezes_what_the_imports_left(cloud_settings) -> None:
    # A full collection must not walk the client's ~70,000 import-time objects again
    # (a stall of every webhook in flight); see CloudRunLauncher.open.
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    assert isinstance(cloud_settings.backend, CloudRunSettings)
    async with cloudrun.CloudRunLauncher.open(cloud_settings.backend):
        assert gc.get_freeze_count() > 10_000
