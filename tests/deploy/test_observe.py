"""make status / logs / cancel against the recording gcloud."""

from __future__ import annotations

import datetime as dt
import re

from tests.deploy.conftest import PROJECT, REGION, FakeGcloud

DEMO_ID = "5f1a7c2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
OTHER_ID = "99999999-9999-4999-8999-999999999999"


def _execution(name: str, env: dict[str, str], status: dict, job: str = "numerai-job") -> dict:
    """A v1 Execution as `gcloud run jobs executions list --format=json` prints it."""
    return {
        "apiVersion": "run.googleapis.com/v1",
        "kind": "Execution",
        "metadata": {
            "name": name,
            "namespace": "123456",
            "labels": {"run.googleapis.com/job": job},
            "creationTimestamp": "2025-05-20T13:00:00Z",
        },
        "spec": {
            "taskCount": 1,
            "template": {"spec": {"containers": [{
                "image": "x", "env": [{"name": k, "value": v} for k, v in env.items()]}]}},
        },
        "status": status,
    }


def _completed(value: str, reason: str = "") -> list[dict]:
    return [{"type": "Completed", "status": value, "reason": reason}]


def test_status_table(gcloud: FakeGcloud) -> None:
    gcloud.update(executions=[
        _execution("numerai-job-aaaaa",
                   {"NUMERAI_MODEL_ID": DEMO_ID, "NUMERAI_ROUND": "612", "TRIGGER_ID": "t"},
                   {"startTime": "2025-05-20T13:00:05.123456789Z",
                    "completionTime": "2025-05-20T13:03:10Z",
                    "conditions": _completed("True"), "succeededCount": 1}),
        _execution("numerai-job-bbbbb",
                   {"NUMERAI_MODEL_ID": f"{DEMO_ID},{OTHER_ID}", "NUMERAI_ROUND": "test"},
                   {"startTime": "2025-05-20T12:00:00Z", "completionTime": "2025-05-20T13:01:30Z",
                    "conditions": _completed("False"), "failedCount": 1}),
        _execution("numerai-job-ccccc", {"NUMERAI_MODEL_ID": "all"},
                   {"startTime": "2025-05-20T12:00:00Z", "completionTime": "2025-05-20T12:00:09Z",
                    "conditions": _completed("False", "Cancelled"), "cancelledCount": 1}),
        _execution("numerai-job-ddddd", {}, {"conditions": _completed("Unknown")}),
    ])
    run = gcloud.ops("status", PROJECT=PROJECT, REGION=REGION, LIMIT="4")
    assert run.code == 0, run.output
    assert gcloud.argvs() == [[
        "run", "jobs", "executions", "list", f"--region={REGION}", f"--project={PROJECT}",
        "--limit=4", "--format=json"]]
    lines = [re.split(r"\s{2,}", line.strip()) for line in run.stdout.strip().splitlines()]
    assert lines[0] == ["EXECUTION", "JOB", "MODEL", "ROUND", "STATE", "STARTED (UTC)", "DURATION"]
    assert lines[1] == ["numerai-job-aaaaa", "numerai-job", "demo_pred1", "612", "succeeded",
                        "2025-05-20 13:00:05", "3m05s"]
    assert lines[2] == ["numerai-job-bbbbb", "numerai-job", f"demo_pred1,{OTHER_ID}", "test",
                        "failed", "2025-05-20 12:00:00", "1h01m"]
    assert lines[3] == ["numerai-job-ccccc", "numerai-job", "all", "current", "cancelled",
                        "2025-05-20 12:00:00", "9s"]
    assert lines[4] == ["numerai-job-ddddd", "numerai-job", "-", "current", "pending",
                        "2025-05-20 13:00:00", "-"]


def test_status_filters_by_job_and_reports_none(gcloud: FakeGcloud) -> None:
    run = gcloud.ops("status", PROJECT=PROJECT, REGION=REGION, JOB="numerai-job-big")
    assert run.code == 0, run.output
    assert "--job=numerai-job-big" in gcloud.argvs()[0]
    assert "no executions yet" in run.stdout


def test_status_bad_limit(gcloud: FakeGcloud) -> None:
    run = gcloud.ops("status", PROJECT=PROJECT, REGION=REGION, LIMIT="ten")
    assert run.code == 2 and "LIMIT='ten'" in run.stderr
    assert gcloud.calls() == []


def _since(filter_: str) -> dt.datetime:
    match = re.search(r'timestamp>="([^"]+)"', filter_)
    assert match, filter_
    return dt.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def test_logs_of_an_execution_use_the_design_filter(gcloud: FakeGcloud) -> None:
    gcloud.update(log_entries=[
        {"timestamp": "2025-05-20T13:00:06Z", "severity": "INFO",
         "labels": {"model_id": DEMO_ID}, "jsonPayload": {"message": "downloaded live data"}},
        {"timestamp": "2025-05-20T13:03:09Z", "severity": "INFO",
         "labels": {"model_id": DEMO_ID},
         "jsonPayload": {"message": "submitted", "event": "submitted", "submission_id": "s-1",
                         "rows": 6720, "durations": {"predict": 1.5}}},
        {"timestamp": "2025-05-20T13:03:10Z", "severity": "DEFAULT",
         "textPayload": "Container called exit(0).\n"},
    ])
    before = dt.datetime.now(dt.UTC)
    run = gcloud.ops("logs", PROJECT=PROJECT, REGION=REGION,
                     EXECUTION=f"projects/{PROJECT}/locations/{REGION}/jobs/numerai-job/"
                               "executions/numerai-job-aaaaa")
    assert run.code == 0, run.output
    (argv,) = gcloud.argvs()
    assert argv[:2] == ["logging", "read"]
    assert argv[2].startswith(
        'resource.type="cloud_run_job" AND '
        'labels."run.googleapis.com/execution_name"="numerai-job-aaaaa" AND timestamp>="')
    since = _since(argv[2])
    week = dt.timedelta(days=7)
    slack = dt.timedelta(seconds=60)
    assert before - week - dt.timedelta(seconds=5) <= since <= before - week + slack
    assert argv[3:] == [f"--project={PROJECT}", "--order=asc", "--limit=500", "--format=json"]
    assert run.stdout.splitlines() == [
        "2025-05-20T13:00:06Z INFO    demo_pred1 downloaded live data",
        '2025-05-20T13:03:09Z INFO    demo_pred1 submitted [event=submitted submission_id=s-1 '
        'rows=6720 durations={"predict":1.5}]',
        "2025-05-20T13:03:10Z DEFAULT Container called exit(0).",
    ]


def test_logs_of_a_model_filter_on_its_label(gcloud: FakeGcloud) -> None:
    run = gcloud.ops("logs", PROJECT=PROJECT, REGION=REGION, MODEL="demo_pred1", SINCE="6h",
                     LIMIT="50")
    assert run.code == 0, run.output
    (argv,) = gcloud.argvs()
    assert argv[2].startswith(
        f'resource.type="cloud_run_job" AND labels.model_id="{DEMO_ID}" AND timestamp>="')
    assert "execution_name" not in argv[2]
    assert "--limit=50" in argv
    assert "no log entries" in run.stdout


def test_logs_raw_json(gcloud: FakeGcloud) -> None:
    gcloud.update(log_entries=[{"timestamp": "t", "textPayload": "x"}])
    run = gcloud.ops("logs", PROJECT=PROJECT, REGION=REGION, EXECUTION="numerai-job-a1b2c",
                     FORMAT="json")
    assert run.code == 0, run.output
    assert '"textPayload": "x"' in run.stdout


def test_logs_need_execution_or_model_and_valid_since(gcloud: FakeGcloud) -> None:
    run = gcloud.ops("logs", PROJECT=PROJECT, REGION=REGION)
    assert run.code == 2 and "EXECUTION" in run.stderr and "MODEL" in run.stderr
    run = gcloud.ops("logs", PROJECT=PROJECT, REGION=REGION, EXECUTION="x-1", SINCE="yesterday")
    assert run.code == 2 and "SINCE='yesterday'" in run.stderr
    run = gcloud.ops("logs", PROJECT=PROJECT, REGION=REGION, EXECUTION="Bad Name")
    assert run.code == 2 and "EXECUTION='Bad Name'" in run.stderr
    assert gcloud.calls() == []


def test_cancel(gcloud: FakeGcloud) -> None:
    run = gcloud.make("cancel", PROJECT=PROJECT, REGION=REGION, EXECUTION="numerai-job-aaaaa")
    assert run.code == 0, run.output
    assert gcloud.argvs() == [[
        "run", "jobs", "executions", "cancel", "numerai-job-aaaaa", f"--region={REGION}",
        f"--project={PROJECT}", "--quiet"]]


def test_cancel_needs_execution(gcloud: FakeGcloud) -> None:
    run = gcloud.ops("cancel", PROJECT=PROJECT, REGION=REGION)
    assert run.code == 2 and "EXECUTION is not set" in run.stderr
    assert gcloud.calls() == []


def test_status_logs_cancel_dry_run_run_nothing(gcloud: FakeGcloud) -> None:
    for verb, extra in (("status", {}), ("logs", {"EXECUTION": "numerai-job-aaaaa"}),
                        ("cancel", {"EXECUTION": "numerai-job-aaaaa"})):
        run = gcloud.ops(verb, PROJECT=PROJECT, REGION=REGION, DRY_RUN="1", **extra)
        assert run.code == 0, run.output
        assert "[dry run] gcloud " in run.stderr
    assert gcloud.calls() == []
