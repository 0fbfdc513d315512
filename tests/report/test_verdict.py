"""The report's join (ops/report/verdict.py), state by state, on records built by hand.

test_report.py proves the sources and the join together against the fakes for the
common states; these cover the rest: running, skipped, dry runs, an execution that died
without a summary line, a newer run after a failure, and each way of telling "how".
"""

from __future__ import annotations

import datetime as dt

import pytest

from common.registry import ModelEntry
from ops.report.rounds import Round
from ops.report.sources import Run, Summary, in_round
from ops.report.verdict import Identities, how, row
from ops.submissions import Submission

MODEL = ModelEntry(name="alpha", id="11111111-1111-4111-8111-111111111111", predictor="pred1")
OTHER_ID = "22222222-2222-4222-8222-222222222222"
OPENED = dt.datetime(2025, 6, 24, 13, 0, tzinfo=dt.UTC)
ROUND = Round(842, OPENED)
IDS = Identities("numerai-dispatcher@p.iam.gserviceaccount.com",
                 "numerai-scheduler@p.iam.gserviceaccount.com")


def _at(minutes: int) -> dt.datetime:
    return OPENED + dt.timedelta(minutes=minutes)


def _summary(event: str, minutes: int, execution: str = "numerai-job-aaaaa", **fields) -> Summary:
    values = {"model_id": MODEL.id, "event": event, "at": _at(minutes), "reason": None,
              "submission_id": None, "execution": execution, "trigger_id": None}
    return Summary(**{**values, **fields})


def _run(name: str, minutes: int, state: str, creator: str = IDS.dispatcher, **fields) -> Run:
    values = {"name": name, "job": "numerai-job", "state": state, "created": _at(minutes),
              "creator": creator, "model_ids": MODEL.id, "trigger_id": "", "message": ""}
    return Run(**{**values, **fields})


def test_running_after_a_failure() -> None:
    failed = _summary("failed", 5, reason="predict: boom")
    rerun = _run("numerai-job-bbbbb", 20, "running", creator="bob@example.com")
    result = row(MODEL, ROUND, None, [failed], [rerun], IDS)
    assert (result.state, result.how, result.execution) == (
        "running", "rerun (bob@example.com)", "numerai-job-bbbbb")
    assert result.detail == "execution numerai-job-bbbbb is running"


def test_a_finished_run_of_another_model_says_nothing() -> None:
    other = _run("numerai-job-ccccc", 20, "failed", model_ids=OTHER_ID)
    result = row(MODEL, ROUND, None, [], [other], IDS)
    assert result.state == "missing"


def test_the_latest_summary_line_wins() -> None:
    lines = [_summary("failed", 5, reason="data: HTTP 503"),
             _summary("skipped", 30, reason="already submitted for round 842")]
    result = row(MODEL, ROUND, None, lines, [], IDS)
    assert (result.state, result.detail) == ("skipped", "already submitted for round 842")


def test_a_dry_run_is_skipped_not_submitted() -> None:
    result = row(MODEL, ROUND, None, [_summary("dry_run", 5)], [], IDS)
    assert (result.state, result.detail) == (
        "skipped", "dry run: predictions written, not uploaded")


def test_an_execution_that_died_without_a_summary_line_is_failed_with_its_message() -> None:
    dead = _run("numerai-job-ddddd", 10, "failed",
                message="Task numerai-job-ddddd-task0 failed: The configured timeout was reached.")
    result = row(MODEL, ROUND, None, [_summary("failed", 5, reason="earlier")], [dead], IDS)
    assert result.state == "failed"
    assert result.detail == ("execution numerai-job-ddddd failed without a summary line: Task "
                             "numerai-job-ddddd-task0 failed: The configured timeout was reached.")


def test_a_failed_execution_whose_summary_line_names_it_reports_the_line() -> None:
    run = _run("numerai-job-eeeee", 1, "failed")
    line = _summary("failed", 3, execution="numerai-job-eeeee", reason="upload: HTTP 400")
    result = row(MODEL, ROUND, None, [line], [run], IDS)
    assert (result.state, result.detail, result.how) == ("failed", "upload: HTTP 400", "webhook")


def test_a_submission_the_job_logged_but_numerai_lacks_is_missing() -> None:
    line = _summary("submitted", 5, submission_id="sub-1")
    result = row(MODEL, ROUND, None, [line], [], IDS)
    assert result.state == "missing"
    assert "the job logged submission sub-1, but Numerai does not list it" in result.detail


def test_a_submission_is_joined_to_its_run_by_trigger_id_when_the_logs_are_gone() -> None:
    sub = Submission("sub-9", 842, _at(8), "trig-9")
    scheduled = _run("numerai-job-fffff", 6, "succeeded", creator=IDS.dispatcher,
                     trigger_id="trig-9")
    result = row(MODEL, ROUND, sub, [], [scheduled], IDS)
    assert (result.state, result.how, result.execution, result.trigger_id) == (
        "submitted", "webhook", "numerai-job-fffff", "trig-9")
    assert result.detail == "submission sub-9"


def test_a_submission_made_outside_the_deployment_is_unknown_how() -> None:
    sub = Submission("sub-7", 842, _at(8), None)
    result = row(MODEL, ROUND, sub, [], [], IDS)
    assert (result.state, result.how) == ("submitted", "unknown")
    assert result.detail == ("submission sub-7 (no run of this deployment made it, or it is "
                             "older than the logs)")


def test_a_scheduled_submission_is_found_through_its_summary_line() -> None:
    sub = Submission("sub-3", 842, _at(50), None)
    run = _run("numerai-job-ggggg", 40, "succeeded", creator=IDS.scheduler, model_ids="all")
    line = _summary("submitted", 49, execution="numerai-job-ggggg", submission_id="sub-3")
    result = row(MODEL, ROUND, sub, [line], [run], IDS)
    assert (result.how, result.execution) == ("schedule", "numerai-job-ggggg")


@pytest.mark.parametrize(
    ("creator", "trigger", "expected"),
    [
        (IDS.dispatcher, "numerai-trigger", "webhook"),
        (IDS.dispatcher, "smoke-1234", "smoke"),
        (IDS.scheduler, None, "schedule"),
        ("carol@example.com", None, "rerun (carol@example.com)"),
        ("", None, "unknown"),
    ],
)
def test_how(creator: str, trigger: str | None, expected: str) -> None:
    run = _run("numerai-job-hhhhh", 1, "succeeded", creator=creator)
    assert how(run, trigger, IDS) == expected
    assert how(None, trigger, IDS) == ("smoke" if expected == "smoke" else "unknown")


def test_runs_belong_to_the_round_they_were_created_in() -> None:
    past = Round(841, OPENED - dt.timedelta(days=1), until=OPENED)
    early = _run("numerai-job-iiiii", -60, "succeeded")
    late = _run("numerai-job-jjjjj", 30, "succeeded")
    assert [in_round(r, past) for r in (early, late)] == [True, False]
    assert [in_round(r, ROUND) for r in (early, late)] == [False, True]
