"""The webhook's HTTP contract, in check order, with a recording launcher.

The Cloud Run path itself is tested through the real client in test_cloudrun.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest

from common.contract import OVERRIDE_NAMES
from common.registry import Registry
from dispatcher.launcher import LaunchError
from dispatcher.settings import CloudRunSettings, Settings
from dispatcher.webhook import MAX_BODY_BYTES, MAX_ROUND_NUMBER, MAX_TRIGGER_ID_LENGTH
from tests.dispatcher.conftest import (
    MODEL_ID,
    OTHER_JOB,
    OTHER_MODEL_ID,
    TOKEN,
    UNKNOWN_MODEL_ID,
    RecordingLauncher,
    body,
    pred_url,
)


@pytest.fixture
def settings(registry: Registry) -> Settings:
    return Settings(
        registry=registry,
        webhook_token=TOKEN,
        backend=CloudRunSettings(project="test-project", region="europe-west1"),
    )


@pytest.fixture
def launcher() -> RecordingLauncher:
    return RecordingLauncher()


@pytest.fixture
async def client(make_client: Any, settings: Settings, launcher: RecordingLauncher) -> Any:
    return await make_client(settings, launcher=launcher)


async def test_accepted_webhook_answers_202_with_the_execution(client, launcher) -> None:
    resp = await client.post(pred_url(), json=body("t-1"))
    assert resp.status == 202
    assert await resp.json() == {
        "execution": "numerai-job-00001",
        "execution_name": "projects/p/locations/l/jobs/numerai-job/executions/numerai-job-00001",
        "model_id": MODEL_ID,
        "round": 842,
        "trigger_id": "t-1",
    }
    [request] = launcher.requests
    assert request.env() == {
        "NUMERAI_MODEL_ID": MODEL_ID,
        "NUMERAI_ROUND": "842",
        "TRIGGER_ID": "t-1",
        "NUMERAI_IS_TEST": "false",
    }
    assert tuple(request.env()) == OVERRIDE_NAMES
    assert request.job is None  # not in the registry entry: the launcher's default job


async def test_test_webhook_sets_round_test_and_is_test(client, launcher) -> None:
    resp = await client.post(pred_url(), json=body("t-test", "test", isTest=True))
    assert resp.status == 202
    assert (await resp.json())["round"] == "test"
    assert launcher.requests[0].env()["NUMERAI_ROUND"] == "test"
    assert launcher.requests[0].env()["NUMERAI_IS_TEST"] == "true"


async def test_round_test_without_is_test_still_marks_a_test(client, launcher) -> None:
    assert (await client.post(pred_url(), json=body("t-x", "test"))).status == 202
    assert launcher.requests[0].env()["NUMERAI_IS_TEST"] == "true"


async def test_registry_job_wins_over_the_default(client, launcher) -> None:
    resp = await client.post(pred_url(OTHER_MODEL_ID), json=body("t-2"))
    assert resp.status == 202
    assert launcher.requests[0].job == OTHER_JOB


async def test_model_id_in_any_case_is_found_and_normalised(client, launcher) -> None:
    resp = await client.post(pred_url(MODEL_ID.upper()), json=body("t-3"))
    assert resp.status == 202
    assert (await resp.json())["model_id"] == MODEL_ID
    assert launcher.requests[0].model_id == MODEL_ID


@pytest.mark.parametrize(
    "token", [None, "", "wrong-token-wrong-token-wrong", TOKEN + "x", TOKEN[:-1]]
)
async def test_missing_or_wrong_token_is_401_and_launches_nothing(client, launcher, token) -> None:
    resp = await client.post(pred_url(token=token), json=body())
    assert resp.status == 401
    assert (await resp.json())["error"] == "missing or wrong token"
    assert launcher.requests == []


async def test_token_is_checked_before_the_model_and_the_body(client) -> None:
    # Unknown model, oversized, non-JSON: still 401 without a token.
    resp = await client.post(
        pred_url(UNKNOWN_MODEL_ID, token=None), data=b"x" * (MAX_BODY_BYTES + 10)
    )
    assert resp.status == 401


async def test_unknown_model_is_404_before_the_body_is_read(client, launcher) -> None:
    resp = await client.post(pred_url(UNKNOWN_MODEL_ID), data=b"not json")
    assert resp.status == 404
    assert UNKNOWN_MODEL_ID in (await resp.json())["error"]
    resp = await client.post(pred_url("not-a-uuid"), json=body())
    assert resp.status == 404
    assert launcher.requests == []


async def test_body_over_64_kib_is_413(client, launcher) -> None:
    padded = json.dumps({**body(), "pad": "x" * MAX_BODY_BYTES}).encode()
    resp = await client.post(pred_url(), data=padded)
    assert resp.status == 413
    assert "body larger than" in (await resp.json())["error"]
    assert launcher.requests == []


async def test_body_of_exactly_64_kib_is_read(client) -> None:
    raw = json.dumps(body("t-size")).encode()
    raw = raw[:-1] + b" " * (MAX_BODY_BYTES - len(raw)) + b"}"
    assert len(raw) == MAX_BODY_BYTES
    assert (await client.post(pred_url(), data=raw)).status == 202


async def test_chunked_body_over_the_limit_is_413(client, launcher) -> None:
    # No Content-Length: the size is only known while reading.
    async def chunks():
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b" " * 1024

    resp = await client.post(pred_url(), data=chunks())
    assert resp.status == 413
    assert launcher.requests == []


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"{",
        b"",
        b"\xff\xfe",
        b'{"roundNumber": NaN}',
        # Nested far deeper than the interpreter's recursion limit, well inside 64 KiB.
        b"[" * 10_000 + b"]" * 10_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    ],
)
async def test_body_that_is_not_json_is_400(client, launcher, raw) -> None:
    resp = await client.post(pred_url(), data=raw)
    assert resp.status == 400
    assert (await resp.json())["error"].startswith("body is not JSON")
    assert launcher.requests == []


SHAPE_CASES = [
    ([1, 2], "body"),
    ({"dataVersion": 1, "triggerId": "t"}, "roundNumber"),
    (body(round_number="842"), "roundNumber"),
    (body(round_number=True), "roundNumber"),
    (body(round_number=842.0), "roundNumber"),
    (body(round_number=0), "roundNumber"),
    (body(round_number=MAX_ROUND_NUMBER + 1), "roundNumber"),
    (body(round_number=10**30), "roundNumber"),
    (body(round_number=None), "roundNumber"),
    ({"roundNumber": 842, "triggerId": "t"}, "dataVersion"),
    ({**body(), "dataVersion": True}, "dataVersion"),
    ({**body(), "dataVersion": "1"}, "dataVersion"),
    ({"roundNumber": 842, "dataVersion": 1}, "triggerId"),
    (body(trigger=""), "triggerId"),
    (body(trigger="   "), "triggerId"),
    (body(trigger=123), "triggerId"),
    (body(trigger="x" * (MAX_TRIGGER_ID_LENGTH + 1)), "triggerId"),
    (body(trigger="bad\nid"), "triggerId"),
    (body(isTest="yes"), "isTest"),
    (body(isTest=1), "isTest"),
]


@pytest.mark.parametrize(("payload", "field"), SHAPE_CASES)
async def test_wrong_shape_is_422_naming_the_field(client, launcher, payload, field) -> None:
    resp = await client.post(pred_url(), json=payload)
    assert resp.status == 422
    answer = await resp.json()
    assert answer["field"] == field
    assert answer["error"]
    assert launcher.requests == []


async def test_highest_round_number_is_accepted(client, launcher) -> None:
    resp = await client.post(pred_url(), json=body(round_number=MAX_ROUND_NUMBER))
    assert resp.status == 202
    assert launcher.requests[0].round == str(MAX_ROUND_NUMBER)


PREVIOUS = "previous-webhook-token-fedcba9876543210"


async def test_previous_token_is_accepted_during_a_rotation(
    make_client, settings, launcher
) -> None:
    rotating = dataclasses.replace(settings, previous_token=PREVIOUS)
    client = await make_client(rotating, launcher=launcher)
    assert (await client.post(pred_url(token=PREVIOUS), json=body("old"))).status == 202
    assert (await client.post(pred_url(token=TOKEN), json=body("new"))).status == 202
    wrong = await client.post(pred_url(token=PREVIOUS + "x"), json=body("bad"))
    assert wrong.status == 401
    assert [r.trigger_id for r in launcher.requests] == ["old", "new"]


async def test_without_a_rotation_the_previous_token_is_refused(client, launcher) -> None:
    assert (await client.post(pred_url(token=PREVIOUS), json=body())).status == 401
    assert launcher.requests == []


async def test_unknown_keys_are_ignored_and_longest_trigger_accepted(client) -> None:
    payload = body("t" * MAX_TRIGGER_ID_LENGTH, extraField={"nested": 1}, isTest=False)
    assert (await client.post(pred_url(), json=payload)).status == 202


async def test_same_trigger_again_is_200_with_the_first_execution(client, launcher) -> None:
    first = await client.post(pred_url(), json=body("t-dup"))
    second = await client.post(pred_url(), json=body("t-dup"))
    assert (first.status, second.status) == (202, 200)
    assert await first.json() == await second.json()
    assert len(launcher.requests) == 1


async def test_same_trigger_for_another_model_is_a_new_launch(client, launcher) -> None:
    assert (await client.post(pred_url(), json=body("t-shared"))).status == 202
    assert (await client.post(pred_url(OTHER_MODEL_ID), json=body("t-shared"))).status == 202
    assert len(launcher.requests) == 2


async def test_concurrent_duplicates_share_one_launch(make_client, settings) -> None:
    slow = RecordingLauncher(delay=0.2)
    client = await make_client(settings, launcher=slow)
    responses = await asyncio.gather(
        *[client.post(pred_url(), json=body("t-burst")) for _ in range(20)]
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 19 + [202]
    assert len({json.dumps(await r.json(), sort_keys=True) for r in responses}) == 1
    assert len(slow.requests) == 1


@pytest.mark.parametrize(("transient", "status"), [(True, 503), (False, 502)])
async def test_failed_launch_is_not_recorded_so_a_retry_launches(
    client, launcher, transient, status
) -> None:
    launcher.errors.append(LaunchError("scripted failure", transient=transient))
    resp = await client.post(pred_url(), json=body("t-fail"))
    assert resp.status == status
    assert (await resp.json())["error"] == "scripted failure"
    retry = await client.post(pred_url(), json=body("t-fail"))
    assert retry.status == 202
    assert len(launcher.requests) == 2


async def test_healthz(client) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ok"


async def test_unknown_route_and_method_answer_json(client) -> None:
    resp = await client.get("/nope")
    assert resp.status == 404
    assert "error" in await resp.json()
    resp = await client.get(pred_url())
    assert resp.status == 405
    assert "error" in await resp.json()
    assert "POST" in resp.headers["Allow"]


async def test_local_routes_do_not_exist_in_cloudrun_mode(client) -> None:
    assert (await client.get("/local/executions")).status == 404


async def test_unexpected_launcher_error_is_500_logged_and_not_recorded(
    client, launcher, caplog
) -> None:
    class Broken(Exception):
        pass

    launcher.errors.append(Broken("boom"))  # not a LaunchError: a bug or an unknown failure
    resp = await client.post(pred_url(), json=body("t-500"))
    assert resp.status == 500
    assert await resp.json() == {"error": "internal error"}
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)
    hook_lines = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "webhook"]
    assert hook_lines[-1].fields["status"] == 500
    assert (await client.post(pred_url(), json=body("t-500"))).status == 202
