"""NUMERAI_IF_SUBMITTED: resubmit (default) or skip a model already submitted this round."""

from __future__ import annotations

from common.retry import NO_DELAY
from tests.job.support import MODEL_A, MODEL_B, TRIGGER, pred1_entry

LABELS = "logging.googleapis.com/labels"


def ops(job) -> list[str | None]:
    return [r.graphql_op for r in job.fake.requests if r.method == "POST"]


def test_skip_leaves_an_already_submitted_model_alone(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    assert job.run(NUMERAI_MODEL_ID=MODEL_A).code == 0  # the webhook's run
    before = len(job.fake.requests)

    # A rerun on a fresh machine (empty cache): it must not download or upload anything.
    rerun = job.run(
        NUMERAI_MODEL_ID=MODEL_A,
        NUMERAI_IF_SUBMITTED="skip",
        NUMERAI_DATA_DIR=str(job.tmp_path / "fresh"),
        TRIGGER_ID="scheduled-1",
    )

    assert rerun.code == 0, rerun.output
    assert len(job.fake.submissions) == 1
    assert [r.graphql_op for r in job.fake.requests[before:]] == ["rounds", "model"]
    assert not (job.tmp_path / "fresh").exists()
    [line] = rerun.events("skipped")
    assert line["reason"] == f"already submitted for round {job.fake.current_round}"
    assert line["submission_id"] is None
    assert line["severity"] == "INFO"
    assert set(line["durations"]) == {"check"}
    assert line[LABELS] == {
        "model_id": MODEL_A,
        "model_name": "alpha",
        "round": str(job.fake.current_round),
        "trigger_id": "scheduled-1",
    }
    assert "skipped: already submitted for round 842 (NUMERAI_IF_SUBMITTED=skip)" in line["message"]
    assert rerun.events("submitted") == rerun.events("failed") == []


def test_skip_still_submits_models_without_a_submission_this_round(job, pred1_models):
    job.register(
        alpha=pred1_entry(MODEL_A, pred1_models["medium"]),
        beta=pred1_entry(MODEL_B, pred1_models["small"], feature_set="small"),
    )
    assert job.run(NUMERAI_MODEL_ID=MODEL_A).code == 0  # alpha, round 842
    job.fake.current_round += 1  # a new round opens: alpha's submission is last round's

    first = job.run(NUMERAI_MODEL_ID="all", NUMERAI_IF_SUBMITTED="skip")
    assert first.code == 0, first.output
    assert {(s.model_id, s.round) for s in job.fake.submissions[1:]} == {
        (MODEL_A, 843),
        (MODEL_B, 843),
    }
    assert set(first.summary("alpha")["durations"]) >= {"check", "predict", "upload"}

    second = job.run(NUMERAI_MODEL_ID="all", NUMERAI_IF_SUBMITTED="SKIP")
    assert second.code == 0, second.output
    assert len(job.fake.submissions) == 3
    assert {line[LABELS]["model_name"] for line in second.events("skipped")} == {"alpha", "beta"}


def test_resubmit_is_the_default_and_asks_nothing(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    first = job.run(NUMERAI_MODEL_ID=MODEL_A)
    second = job.run(NUMERAI_MODEL_ID=MODEL_A, TRIGGER_ID="rerun", NUMERAI_IF_SUBMITTED="resubmit")

    assert first.code == second.code == 0, first.output + second.output
    subs = job.fake.submissions
    assert [(s.model_id, s.round, s.trigger_id) for s in subs] == [
        (MODEL_A, 842, TRIGGER),
        (MODEL_A, 842, "rerun"),
    ]
    assert second.summary("alpha")["submission_id"] == subs[1].id
    assert "model" not in ops(job)  # no submission check without skip


def test_test_runs_and_dry_runs_never_skip(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    assert job.run(NUMERAI_MODEL_ID=MODEL_A).code == 0

    test_run = job.run(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_ROUND="test", NUMERAI_IF_SUBMITTED="skip")
    flagged = job.run(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_IS_TEST="true", NUMERAI_IF_SUBMITTED="skip")
    dry = job.run(
        "--dry-run",
        NUMERAI_MODEL_ID=MODEL_A,
        NUMERAI_IF_SUBMITTED="skip",
        NUMERAI_PUBLIC_ID=None,  # a dry run needs no keys, so it cannot ask
        NUMERAI_SECRET_KEY=None,
    )

    assert test_run.code == flagged.code == dry.code == 0
    assert test_run.summary("alpha")["event"] == flagged.summary("alpha")["event"] == "submitted"
    assert dry.summary("alpha")["event"] == "dry_run"
    assert len(job.fake.submissions) == 3
    assert "model" not in ops(job)


def test_an_invalid_value_is_exit_2_naming_the_variable(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_IF_SUBMITTED="sometimes")

    assert result.code == 2
    assert "NUMERAI_IF_SUBMITTED must be one of resubmit, skip (got 'sometimes')" in result.output
    assert job.fake.requests == []


def test_a_transient_check_failure_is_retried(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    job.fake.faults.graphql_5xx(2, status=503, op="model")

    result = job.run(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_IF_SUBMITTED="skip")

    assert result.code == 0, result.output
    checks = [r.status for r in job.fake.requests if r.graphql_op == "model"]
    assert checks == [503, 503, 200]
    assert "submission check failed (Numerai API answered HTTP 503); retrying" in result.output
    assert result.summary("alpha")["event"] == "submitted"  # nothing there yet: submitted


def test_a_check_that_keeps_failing_fails_the_model_without_guessing(job, pred1_models):
    job.register(
        alpha=pred1_entry(MODEL_A, pred1_models["medium"]),
        beta=pred1_entry(MODEL_B, pred1_models["medium"]),
    )
    job.fake.faults.graphql_5xx(NO_DELAY.attempts, status=502, op="model")

    result = job.run(NUMERAI_MODEL_ID="all", NUMERAI_IF_SUBMITTED="skip")

    assert result.code == 1
    alpha = result.summary("alpha")
    assert alpha["event"] == "failed"
    assert alpha["reason"] == (
        f"check: submission check failed after {NO_DELAY.attempts} attempts: "
        "Numerai API answered HTTP 502"
    )
    assert result.events("skipped") == []
    assert [s.model_id for s in job.fake.submissions] == [MODEL_B]  # beta's check succeeded


def test_a_refused_check_fails_the_model_with_numerais_message(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run(
        NUMERAI_MODEL_ID=MODEL_A, NUMERAI_IF_SUBMITTED="skip", NUMERAI_SECRET_KEY="WRONG"
    )

    assert result.code == 1
    assert result.summary("alpha")["reason"].startswith(
        "check: You must be authenticated to perform this action"
    )
    assert job.fake.file_gets("live.parquet") == 0
    assert job.fake.submissions == []


def test_a_retried_task_redoes_only_the_models_that_failed(job, pred1_models):
    """Cloud Run runs a failed task again in full (CLOUD_RUN_TASK_ATTEMPT=1): alpha, which
    made it the first time, is not resubmitted; beta, whose upload was refused, is."""
    job.register(  # beta first: the one refusal below is its submission's
        beta=pred1_entry(MODEL_B, pred1_models["small"], feature_set="small"),
        alpha=pred1_entry(MODEL_A, pred1_models["medium"]),
    )
    job.fake.faults.create_submission_error("Invalid submission", count=1)
    first = job.run(NUMERAI_MODEL_ID="all", CLOUD_RUN_TASK_ATTEMPT="0")
    assert first.code == 1
    assert [s.model_id for s in job.fake.submissions] == [MODEL_A]

    retry = job.run(NUMERAI_MODEL_ID="all", CLOUD_RUN_TASK_ATTEMPT="1")

    assert retry.code == 0, retry.output
    assert [s.model_id for s in job.fake.submissions] == [MODEL_A, MODEL_B]
    skipped = retry.summary("alpha")
    assert skipped["event"] == "skipped"
    assert skipped["reason"] == f"already submitted for round {job.fake.current_round}"
    assert "(retry 1 of a task: only what failed is redone)" in skipped["message"]
    assert retry.summary("beta")["event"] == "submitted"


def test_a_retried_test_run_or_dry_run_checks_nothing(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    assert job.run(NUMERAI_MODEL_ID=MODEL_A).code == 0

    test_run = job.run(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_ROUND="test", CLOUD_RUN_TASK_ATTEMPT="1")
    dry_run = job.run("--dry-run", NUMERAI_MODEL_ID=MODEL_A, CLOUD_RUN_TASK_ATTEMPT="2")

    assert (test_run.code, dry_run.code) == (0, 0)
    assert len(job.fake.submissions) == 2  # the test run submitted again
    assert "model" not in ops(job)  # nobody asked Numerai for existing submissions
    assert dry_run.summary("alpha")["event"] == "dry_run"


def test_a_bad_task_attempt_is_exit_2(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run(NUMERAI_MODEL_ID=MODEL_A, CLOUD_RUN_TASK_ATTEMPT="-1")
    assert result.code == 2
    assert "CLOUD_RUN_TASK_ATTEMPT must be an integer" in result.output
