"""`make schedule CATCHUP=1`: the catch-up check that submits only what is missing.

Against the recording gcloud: its own scheduler job (``<job>-catchup``) next to the
regular schedule, the body with ``NUMERAI_IF_SUBMITTED=skip``, its default time before
the daily close, idempotence, unschedule removing only it, dry run, bad input. The same
commands are then parsed by the REAL gcloud (as test_schedule_real_gcloud.py does for
the regular schedule). That a model already submitted is only checked and not redone
is the job's NUMERAI_IF_SUBMITTED=skip, proven in tests/job/test_already_submitted.py.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from fakes.cloudrun import FakeCloudRun
from fakes.gcloud import gcloud_path
from ops.schedule import CATCHUP_CRON
from tests.deploy.conftest import PROJECT, REGION, FakeGcloud, write_registry
from tests.deploy.test_schedule_real_gcloud import JOBS_PATH, _replay

ID_A = "11111111-1111-4111-8111-111111111111"
ID_B = "22222222-2222-4222-8222-222222222222"
WHERE = [f"--location={REGION}", f"--project={PROJECT}"]


def _schedule(gcloud: FakeGcloud, verb: str = "schedule", **env: str):
    return gcloud.ops(verb, PROJECT=PROJECT, REGION=REGION, **env)


def _job(gcloud: FakeGcloud, name: str) -> dict:
    return gcloud.load()["scheduler_jobs"][f"{REGION}/{name}"]


def _env(job: dict) -> dict[str, str]:
    (container,) = json.loads(job["body"])["overrides"]["containerOverrides"]
    return {e["name"]: e["value"] for e in container["env"]}


def test_the_catchup_check_skips_what_is_submitted_before_the_close(gcloud: FakeGcloud) -> None:
    run = _schedule(gcloud, CATCHUP="1")
    assert run.code == 0, run.output
    job = _job(gcloud, "numerai-job-catchup")
    assert _env(job) == {"NUMERAI_MODEL_ID": "all", "NUMERAI_ROUND": "current",
                         "NUMERAI_IS_TEST": "false", "NUMERAI_IF_SUBMITTED": "skip"}
    # 13:40 UTC, Monday to Saturday: 20 minutes before a weekday round closes (14:00 UTC),
    # and Monday for Saturday's round.
    assert CATCHUP_CRON == "40 13 * * 1-6"
    assert (job["schedule"], job["time-zone"]) == (CATCHUP_CRON, "Etc/UTC")
    assert job["description"] == ("numerai-cloudrun: catch-up check (submits only what is "
                                  "missing) on numerai-job for demo_pred1")
    assert "numerai-job-schedule" not in json.dumps(gcloud.load()["scheduler_jobs"])
    assert ("catch-up check numerai-job-catchup (created): runs job numerai-job for demo_pred1, "
            "only those without a submission for the open round at '40 13 * * 1-6' Etc/UTC"
            in run.stdout)


def test_it_lives_next_to_the_regular_schedule_and_a_second_run_only_updates(
    gcloud: FakeGcloud,
) -> None:
    assert _schedule(gcloud).code == 0
    assert _schedule(gcloud, CATCHUP="1").code == 0
    assert sorted(gcloud.load()["scheduler_jobs"]) == [
        f"{REGION}/numerai-job-catchup", f"{REGION}/numerai-job-schedule"]
    assert "NUMERAI_IF_SUBMITTED" not in _env(_job(gcloud, "numerai-job-schedule"))
    gcloud.clear()
    run = _schedule(gcloud, CATCHUP="1", CRON="30 13 * * 1-6")
    assert run.code == 0, run.output
    changes = [a for a in gcloud.argvs() if any(v in a for v in ("create", "enable", "delete"))]
    assert changes == []
    (update,) = [a for a in gcloud.argvs() if a[:3] == ["scheduler", "jobs", "update"]]
    assert update[4] == "numerai-job-catchup"
    assert _job(gcloud, "numerai-job-catchup")["schedule"] == "30 13 * * 1-6"
    assert _job(gcloud, "numerai-job-schedule")["schedule"] == "15 13 * * 2-6"


def test_models_on_two_jobs_get_a_check_each(gcloud: FakeGcloud, tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "models.toml", {
        "alpha": {"id": ID_A, "predictor": "pred1"},
        "big": {"id": ID_B, "predictor": "pred1", "job": "numerai-job-big"},
    })
    gcloud.update(run_jobs=["numerai-job", "numerai-job-big"])
    run = _schedule(gcloud, CATCHUP="1", NUMERAI_MODELS_FILE=str(registry))
    assert run.code == 0, run.output
    assert _env(_job(gcloud, "numerai-job-catchup"))["NUMERAI_MODEL_ID"] == ID_A
    assert _env(_job(gcloud, "numerai-job-big-catchup"))["NUMERAI_MODEL_ID"] == ID_B
    assert _env(_job(gcloud, "numerai-job-big-catchup"))["NUMERAI_IF_SUBMITTED"] == "skip"


def test_unschedule_catchup_removes_only_the_check(gcloud: FakeGcloud) -> None:
    assert _schedule(gcloud).code == 0
    assert _schedule(gcloud, CATCHUP="1").code == 0
    gcloud.clear()
    run = _schedule(gcloud, "unschedule", CATCHUP="1")
    assert run.code == 0, run.output
    assert gcloud.argvs() == [
        ["scheduler", "jobs", "describe", "numerai-job-catchup", *WHERE],
        ["scheduler", "jobs", "delete", "numerai-job-catchup", *WHERE, "--quiet"],
    ]
    assert list(gcloud.load()["scheduler_jobs"]) == [f"{REGION}/numerai-job-schedule"]
    assert "deleted catch-up check numerai-job-catchup (job numerai-job)" in run.stdout


def test_dry_run_runs_nothing(gcloud: FakeGcloud) -> None:
    run = _schedule(gcloud, CATCHUP="1", DRY_RUN="1")
    assert run.code == 0, run.output
    assert gcloud.calls() == []
    assert "[dry run] gcloud scheduler jobs create http numerai-job-catchup" in run.stderr
    assert '"name": "NUMERAI_IF_SUBMITTED",\n' in run.stderr  # the body is shown
    assert "'--schedule=40 13 * * 1-6'" in run.stderr


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"IF_SUBMITTED": "resubmit"}, "IF_SUBMITTED=resubmit with CATCHUP=1: the catch-up "
                                       "check only submits models that have no submission"),
        ({"CATCHUP": "maybe"}, "CATCHUP='maybe': expected 1/0"),
        ({"CRON": "at 13:40"}, "CRON='at 13:40': expected five unix-cron fields"),
    ],
)
def test_bad_input_is_exit_2_before_any_command(gcloud: FakeGcloud, env: dict, named: str) -> None:
    run = _schedule(gcloud, **{"CATCHUP": "1", **env})
    assert run.code == 2, run.output
    assert run.stderr.strip().splitlines()[-1].startswith(f"error: {named}")
    assert gcloud.calls() == []


@pytest.mark.skipif(gcloud_path() is None, reason="gcloud is not installed")
def test_gcloud_turns_the_commands_into_the_intended_check(
    gcloud: FakeGcloud, tmp_path: Path
) -> None:
    assert _schedule(gcloud, CATCHUP="1").code == 0
    (create,) = [a for a in gcloud.argvs() if a[:4] == ["scheduler", "jobs", "create", "http"]]
    body = _job(gcloud, "numerai-job-catchup")["body"]
    with FakeCloudRun(project=PROJECT, region=REGION) as fake:
        _replay(create, body, fake, tmp_path)
        (sent,) = [r for r in fake.requests if r.host == "cloudscheduler.fake.test"]
    assert (sent.method, sent.path) == ("POST", JOBS_PATH)
    job = sent.json()
    assert job["name"].endswith("/jobs/numerai-job-catchup")
    assert job["schedule"] == CATCHUP_CRON
    sent_body = json.loads(base64.b64decode(job["httpTarget"]["body"]))
    env = sent_body["overrides"]["containerOverrides"][0]["env"]
    assert {"name": "NUMERAI_IF_SUBMITTED", "value": "skip"} in env
