"""make schedule / unschedule against the recording gcloud: the exact commands, least
privilege, the RunJob body's overrides, idempotence, dry run, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.contract import OVERRIDE_NAMES
from job.settings import IF_SUBMITTED_CHOICES
from ops.schedule import IF_SUBMITTED_CHOICES as OPS_IF_SUBMITTED_CHOICES
from tests.deploy.conftest import (
    PROJECT,
    PUBLIC_ID,
    REGION,
    SECRET_KEY,
    FakeGcloud,
    iam_grants,
    write_registry,
)

DEMO_ID = "5f1a7c2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
ID_A = "11111111-1111-4111-8111-111111111111"
ID_B = "22222222-2222-4222-8222-222222222222"
ID_C = "33333333-3333-4333-8333-333333333333"
SCHEDULER_SA = f"numerai-scheduler@{PROJECT}.iam.gserviceaccount.com"
NUMBER = "987654321098"
AGENT = f"serviceAccount:service-{NUMBER}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"
EXECUTOR_ROLE = "roles/run.jobsExecutorWithOverrides"
TOKEN = "webhook-token-value-0123456789abcdef"
WHERE = [f"--location={REGION}", f"--project={PROJECT}"]


@pytest.fixture
def project(gcloud: FakeGcloud) -> FakeGcloud:
    """A released project: the job is deployed, the secrets exist (schedule needs none)."""
    gcloud.update(
        project_number=NUMBER,
        secrets={
            "numerai-public-id": [PUBLIC_ID],
            "numerai-secret": [SECRET_KEY],
            "numerai-webhook-token": [TOKEN],
        },
    )
    return gcloud


@pytest.fixture
def three_models(tmp_path: Path) -> Path:
    return write_registry(
        tmp_path / "models.toml",
        {
            "alpha": {"id": ID_A, "predictor": "pred1"},
            "beta": {"id": ID_B, "predictor": "pred1"},
            "gamma": {"id": ID_C, "predictor": "pred1", "job": "numerai-job-big"},
        },
    )


def _schedule(gcloud: FakeGcloud, **env: str):
    return gcloud.ops("schedule", PROJECT=PROJECT, REGION=REGION, **env)




def _body(gcloud: FakeGcloud, name: str) -> dict:
    return json.loads(gcloud.load()["scheduler_jobs"][f"{REGION}/{name}"]["body"])


def _env(body: dict) -> dict[str, str]:
    (container,) = body["overrides"]["containerOverrides"]
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names))
    return {e["name"]: e["value"] for e in container["env"]}


def test_first_schedule_runs_exactly_these_commands(project: FakeGcloud) -> None:
    run = _schedule(project)
    assert run.code == 0, run.output
    argvs = project.argvs()
    create = argvs[-1]
    body_flag = next(a for a in create if a.startswith("--message-body-from-file="))
    assert argvs == [
        ["run", "jobs", "describe", "numerai-job", f"--region={REGION}", f"--project={PROJECT}",
         "--format=value(metadata.name)"],
        ["services", "list", "--enabled", f"--project={PROJECT}", "--format=value(config.name)"],
        ["services", "enable", "cloudscheduler.googleapis.com", f"--project={PROJECT}"],
        ["iam", "service-accounts", "describe", SCHEDULER_SA, f"--project={PROJECT}"],
        ["iam", "service-accounts", "create", "numerai-scheduler",
         "--display-name=numerai scheduler (runs the job on a schedule)", f"--project={PROJECT}"],
        ["projects", "describe", PROJECT, "--format=value(projectNumber)"],
        ["projects", "get-iam-policy", PROJECT, "--format=json"],
        ["run", "jobs", "get-iam-policy", "numerai-job", f"--region={REGION}",
         f"--project={PROJECT}", "--format=json"],
        ["run", "jobs", "add-iam-policy-binding", "numerai-job", f"--region={REGION}",
         f"--project={PROJECT}", f"--member=serviceAccount:{SCHEDULER_SA}",
         f"--role={EXECUTOR_ROLE}"],
        ["scheduler", "jobs", "describe", "numerai-job-schedule", *WHERE],
        ["scheduler", "jobs", "create", "http", "numerai-job-schedule", *WHERE,
         "--schedule=15 13 * * 2-6",
         "--time-zone=Etc/UTC",
         f"--uri=https://run.googleapis.com/v2/projects/{PROJECT}/locations/{REGION}/jobs/"
         "numerai-job:run",
         "--http-method=POST",
         body_flag,
         f"--oauth-service-account-email={SCHEDULER_SA}",
         "--oauth-token-scope=https://www.googleapis.com/auth/cloud-platform",
         "--max-retry-attempts=2",
         "--min-backoff=60s",
         "--description=numerai-cloudrun: run numerai-job for demo_pred1",
         "--headers=Content-Type=application/json"],
    ]
    # The body file is gone once the verb is done (gcloud read it while it ran).
    assert not Path(body_flag.split("=", 1)[1]).exists()
    assert "schedule numerai-job-schedule (created)" in run.stdout
    assert f"created service account {SCHEDULER_SA}" in run.stdout


def test_the_body_carries_exactly_the_design_overrides(project: FakeGcloud) -> None:
    assert _schedule(project).code == 0
    body = _body(project, "numerai-job-schedule")
    assert body == {
        "overrides": {
            "containerOverrides": [{"env": [
                {"name": "NUMERAI_MODEL_ID", "value": "all"},
                {"name": "NUMERAI_ROUND", "value": "current"},
                {"name": "NUMERAI_IS_TEST", "value": "false"},
            ]}],
            "taskCount": 1,
        }
    }
    # common.contract's override names, and no trigger: a scheduled run has none.
    assert set(_env(body)) <= set(OVERRIDE_NAMES)
    assert "TRIGGER_ID" not in _env(body)


def test_models_on_two_jobs_get_one_schedule_each(
    project: FakeGcloud, three_models: Path
) -> None:
    project.update(run_jobs=["numerai-job", "numerai-job-big"])
    run = _schedule(project, NUMERAI_MODELS_FILE=str(three_models), CRON="30 13 * * 2-6",
                    TIMEZONE="Europe/London")
    assert run.code == 0, run.output
    small, big = _body(project, "numerai-job-schedule"), _body(project, "numerai-job-big-schedule")
    assert _env(small) == {"NUMERAI_MODEL_ID": f"{ID_A},{ID_B}", "NUMERAI_ROUND": "current",
                           "NUMERAI_IS_TEST": "false"}
    assert small["overrides"]["taskCount"] == 2
    assert _env(big)["NUMERAI_MODEL_ID"] == ID_C
    assert big["overrides"]["taskCount"] == 1
    jobs = project.load()["scheduler_jobs"]
    assert jobs[f"{REGION}/numerai-job-big-schedule"]["uri"].endswith("/jobs/numerai-job-big:run")
    assert {j["schedule"] for j in jobs.values()} == {"30 13 * * 2-6"}
    assert {j["time-zone"] for j in jobs.values()} == {"Europe/London"}
    # One grant per Cloud Run job, on that job.
    assert sorted(g[1] for g in iam_grants(project.argvs())) == ["numerai-job", "numerai-job-big"]


@pytest.mark.parametrize("choice", ["skip", "resubmit"])
def test_if_submitted_is_added_only_when_asked(project: FakeGcloud, choice: str) -> None:
    assert _schedule(project, IF_SUBMITTED=choice.upper()).code == 0
    env = _env(_body(project, "numerai-job-schedule"))
    assert env == {"NUMERAI_MODEL_ID": "all", "NUMERAI_ROUND": "current",
                   "NUMERAI_IS_TEST": "false", "NUMERAI_IF_SUBMITTED": choice}


def test_if_submitted_values_are_the_job_s() -> None:
    assert OPS_IF_SUBMITTED_CHOICES == IF_SUBMITTED_CHOICES


def test_a_long_model_list_keeps_the_description_within_scheduler_s_limit(
    project: FakeGcloud, tmp_path: Path
) -> None:
    many = {f"model_{i:03d}_with_a_long_name": {
        "id": f"{i:08d}-0000-4000-8000-000000000000", "predictor": "pred1"} for i in range(40)}
    registry = write_registry(tmp_path / "many.toml", many)
    assert _schedule(project, NUMERAI_MODELS_FILE=str(registry)).code == 0
    job = project.load()["scheduler_jobs"][f"{REGION}/numerai-job-schedule"]
    assert len(job["description"]) == 500
    assert job["description"].endswith(" … (40 models)")
    assert _body(project, "numerai-job-schedule")["overrides"]["taskCount"] == 40


def test_one_named_model_is_named_by_id(project: FakeGcloud) -> None:
    assert _schedule(project, MODEL="demo_pred1").code == 0
    assert _env(_body(project, "numerai-job-schedule"))["NUMERAI_MODEL_ID"] == DEMO_ID


def test_least_privilege(project: FakeGcloud, three_models: Path) -> None:
    project.update(run_jobs=["numerai-job", "numerai-job-big"])
    assert _schedule(project, NUMERAI_MODELS_FILE=str(three_models)).code == 0
    grants = iam_grants(project.argvs())
    # Only the executor role, to the scheduler account, on each job resource: nothing on
    # the project (the Cloud Scheduler agent's role is already there after enabling).
    assert grants == [
        ("run jobs", "numerai-job", f"serviceAccount:{SCHEDULER_SA}", EXECUTOR_ROLE),
        ("run jobs", "numerai-job-big", f"serviceAccount:{SCHEDULER_SA}", EXECUTOR_ROLE),
    ]
    policies = project.load()["policies"]
    holders = {key for key, policy in policies.items()
               for b in policy["bindings"] if f"serviceAccount:{SCHEDULER_SA}" in b["members"]}
    assert holders == {"run_jobs/numerai-job", "run_jobs/numerai-job-big"}
    roles = {b["role"] for policy in policies.values() for b in policy["bindings"]}
    assert not roles & {"roles/owner", "roles/editor", "roles/run.developer", "roles/run.admin",
                        "roles/run.invoker", "roles/iam.serviceAccountUser"}


def test_a_project_without_the_scheduler_agent_role_gets_it(project: FakeGcloud) -> None:
    """Projects that enabled Cloud Scheduler before 2019-03-19 lack the agent's role."""
    project.update(scheduler_agent_auto_grant=False)
    run = _schedule(project)
    assert run.code == 0, run.output
    assert [g for g in iam_grants(project.argvs()) if g[0] == "projects"] == [
        ("projects", PROJECT, AGENT, "roles/cloudscheduler.serviceAgent")
    ]
    assert ["projects", "add-iam-policy-binding", PROJECT, "--condition=None",
            f"--member={AGENT}", "--role=roles/cloudscheduler.serviceAgent"] in project.argvs()


def test_second_schedule_updates_and_grants_nothing(project: FakeGcloud) -> None:
    assert _schedule(project).code == 0
    before = project.load()["scheduler_jobs"]
    project.clear()
    run = _schedule(project, CRON="45 13 * * 2-6")
    assert run.code == 0, run.output
    argvs = project.argvs()
    assert not [a for a in argvs if "create" in a or "enable" in a
                or "add-iam-policy-binding" in a]
    (update,) = [a for a in argvs if a[:3] == ["scheduler", "jobs", "update"]]
    assert update[:5] == ["scheduler", "jobs", "update", "http", "numerai-job-schedule"]
    assert "--update-headers=Content-Type=application/json" in update
    assert "--schedule=45 13 * * 2-6" in update
    after = project.load()["scheduler_jobs"]
    key = f"{REGION}/numerai-job-schedule"
    assert after[key]["body"] == before[key]["body"]
    assert after[key]["schedule"] == "45 13 * * 2-6"
    assert "schedule numerai-job-schedule (updated)" in run.stdout


def test_no_secret_is_read_or_shown(project: FakeGcloud) -> None:
    run = _schedule(project)
    assert run.code == 0, run.output
    assert not [a for a in project.argvs() if a[0] == "secrets"]
    for value in (PUBLIC_ID, SECRET_KEY, TOKEN):
        assert value not in run.output
        assert all(value not in " ".join(c["argv"]) for c in project.calls())


def test_dry_run_prints_everything_and_runs_nothing(project: FakeGcloud) -> None:
    run = _schedule(project, DRY_RUN="1")
    assert run.code == 0, run.output
    assert project.calls() == []
    assert "[dry run] gcloud services enable cloudscheduler.googleapis.com" in run.stderr
    assert "[dry run] gcloud scheduler jobs create http numerai-job-schedule" in run.stderr
    assert f"--role={EXECUTOR_ROLE}" in run.stderr
    assert '"name": "NUMERAI_MODEL_ID"' in run.stderr  # the body is shown
    assert "dry run: nothing was changed" in run.stdout


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CRON": "every day"}, "CRON='every day'"),
        ({"CRON": "15 13 * *"}, "CRON='15 13 * *'"),
        ({"CRON": "15 13 * * 2-6; rm"}, "CRON="),
        ({"TIMEZONE": "Mars/Olympus_Mons"}, "TIMEZONE='Mars/Olympus_Mons'"),
        ({"MODEL": "nosuchmodel"}, "MODEL='nosuchmodel'"),
        ({"SCHEDULER_REGION": "Europe"}, "SCHEDULER_REGION='Europe'"),
        ({"SCHEDULER_SA": "x"}, "SCHEDULER_SA='x'"),
        ({"IF_SUBMITTED": "maybe"}, "IF_SUBMITTED='maybe'"),
    ],
)
def test_bad_input_exit_2_naming_it(project: FakeGcloud, env: dict, named: str) -> None:
    run = _schedule(project, **env)
    assert run.code == 2, run.output
    assert named in run.stderr
    assert project.calls() == []


def test_a_job_not_deployed_stops_before_any_change(
    project: FakeGcloud, three_models: Path
) -> None:
    run = _schedule(project, NUMERAI_MODELS_FILE=str(three_models))
    assert run.code == 1
    assert "Cloud Run job numerai-job-big does not exist" in run.stderr
    assert [a[:3] for a in project.argvs()] == [["run", "jobs", "describe"]] * 2
    assert "scheduler_jobs" not in project.load()


def test_scheduler_refusal_is_exit_1_with_its_reason(project: FakeGcloud) -> None:
    project.update(fail={"scheduler jobs create http": {
        "code": 1, "times": 1,
        "stderr": "ERROR: (gcloud.scheduler.jobs.create.http) PERMISSION_DENIED: The caller "
                  "does not have permission iam.serviceAccounts.actAs"}})
    run = _schedule(project)
    assert run.code == 1
    assert "iam.serviceAccounts.actAs" in run.stderr


def test_make_schedule_and_unschedule(project: FakeGcloud) -> None:
    run = project.make("schedule", PROJECT=PROJECT, REGION=REGION, CRON="0 14 * * 6",
                       TIMEZONE="Etc/UTC")
    assert run.code == 0, run.output
    assert project.load()["scheduler_jobs"][f"{REGION}/numerai-job-schedule"]["schedule"] == (
        "0 14 * * 6")
    project.clear()
    run = project.make("unschedule", PROJECT=PROJECT, REGION=REGION)
    assert run.code == 0, run.output
    assert project.argvs() == [
        ["scheduler", "jobs", "describe", "numerai-job-schedule", *WHERE],
        ["scheduler", "jobs", "delete", "numerai-job-schedule", *WHERE, "--quiet"],
    ]
    assert project.load()["scheduler_jobs"] == {}
    # What it leaves, said plainly: the account (and its grant), and how to remove it.
    assert f"left in place: service account {SCHEDULER_SA}" in run.stdout
    assert f"gcloud iam service-accounts delete {SCHEDULER_SA}" in run.stdout
    assert SCHEDULER_SA in project.load()["service_accounts"]


def test_unschedule_without_a_schedule_changes_nothing(project: FakeGcloud) -> None:
    run = project.ops("unschedule", PROJECT=PROJECT, REGION=REGION)
    assert run.code == 0, run.output
    assert [a[2] for a in project.argvs()] == ["describe"]
    assert "nothing to delete" in run.stdout


def test_unschedule_dry_run(project: FakeGcloud) -> None:
    assert _schedule(project).code == 0
    project.clear()
    run = project.ops("unschedule", PROJECT=PROJECT, REGION=REGION, DRY_RUN="1")
    assert run.code == 0, run.output
    assert project.calls() == []
    assert "[dry run] gcloud scheduler jobs delete" not in run.stderr  # describe says "missing"
    assert "[dry run] gcloud scheduler jobs describe numerai-job-schedule" in run.stderr
    assert project.load()["scheduler_jobs"]  # still there
