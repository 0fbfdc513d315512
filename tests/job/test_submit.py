"""End to end through the real numerapi against the fake Numerai: what gets submitted."""

from __future__ import annotations

import polars as pl

from job.plugins import load_predictor
from tests.job.support import MODEL_A, MODEL_B, MODEL_C, TRIGGER, pred1_entry

LABELS = "logging.googleapis.com/labels"


def test_two_models_submit_in_one_run_and_share_one_live_download(
    job, pred1_models, synthetic_data
):
    job.register(
        alpha=pred1_entry(MODEL_A, pred1_models["medium"]),
        beta=pred1_entry(MODEL_B, pred1_models["small"], feature_set="small"),
    )
    result = job.run(NUMERAI_MODEL_ID=f"{MODEL_A},{MODEL_B}")

    assert result.code == 0, result.output
    subs = {s.model_id: s for s in job.fake.submissions}
    assert set(subs) == {MODEL_A, MODEL_B}
    live_ids = set(pl.read_parquet(synthetic_data / "live.parquet", columns=["id"])["id"])
    for sub in subs.values():
        assert sub.trigger_id == TRIGGER
        assert sub.round == job.fake.current_round
        assert sub.rows == len(live_ids)
        assert sub.csv.splitlines()[0] == b"id,prediction"
    assert job.fake.file_gets("live.parquet") == 1

    for name, model_id in (("alpha", MODEL_A), ("beta", MODEL_B)):
        line = result.summary(name)
        assert line["event"] == "submitted"
        assert line["submission_id"] == subs[model_id].id
        assert line["rows"] == len(live_ids)
        assert set(line["durations"]) >= {
            "predictor",
            "data",
            "load",
            "predict",
            "validate",
            "upload",
        }
        assert line[LABELS] == {
            "model_id": model_id,
            "model_name": name,
            "round": str(job.fake.current_round),
            "trigger_id": TRIGGER,
        }
        assert line["severity"] == "INFO"
    # Every line about a model carries the model's labels.
    for line in result.lines:
        if "model_name" in line.get(LABELS, {}):
            assert {"model_id", "round", "trigger_id"} <= set(line[LABELS])


def test_second_run_of_the_same_round_downloads_no_body(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    assert job.run(NUMERAI_MODEL_ID=MODEL_A).code == 0
    assert job.fake.file_gets("live.parquet") == 1

    second = job.run(NUMERAI_MODEL_ID=MODEL_A, TRIGGER_ID="trigger-0002")

    assert second.code == 0, second.output
    assert job.fake.file_gets("live.parquet") == 1
    assert job.fake.file_gets("features.json") == 1
    assert [s.trigger_id for s in job.fake.submissions] == [TRIGGER, "trigger-0002"]


def test_test_round_submits_to_the_current_round_and_says_so(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_ROUND="test")

    assert result.code == 0, result.output
    [sub] = job.fake.submissions
    assert sub.round == job.fake.current_round
    line = result.summary("alpha")
    assert line["is_test"] is True
    assert line["round"] == job.fake.current_round
    assert line[LABELS]["round"] == str(job.fake.current_round)


def test_numeric_round_equal_to_the_open_round_submits(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run("--round", str(job.fake.current_round), "--model-id", MODEL_A)

    assert result.code == 0, result.output
    assert result.summary("alpha")["is_test"] is False
    assert len(job.fake.submissions) == 1


def test_numeric_round_that_is_not_open_is_refused(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_ROUND="840")

    assert result.code == 2
    assert "NUMERAI_ROUND=840 is not the open round (842)" in result.output
    assert job.fake.submissions == []
    assert job.fake.file_gets("live.parquet") == 0


def test_flags_override_environment(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run(
        "--model-id", MODEL_A, "--trigger-id", "from-flag", NUMERAI_MODEL_ID="not-a-uuid"
    )

    assert result.code == 0, result.output
    assert [s.trigger_id for s in job.fake.submissions] == ["from-flag"]


def test_tasks_split_the_models_between_them(job, pred1_models):
    entries = {
        name: pred1_entry(model_id, pred1_models["medium"])
        for name, model_id in (("alpha", MODEL_A), ("beta", MODEL_B), ("gamma", MODEL_C))
    }
    job.register(**entries)
    env = {"NUMERAI_MODEL_ID": "all", "CLOUD_RUN_TASK_COUNT": "2", "CLOUD_RUN_EXECUTION": "job-abc"}

    first = job.run(**env, CLOUD_RUN_TASK_INDEX="0")
    assert first.code == 0, first.output
    assert {s.model_id for s in job.fake.submissions} == {MODEL_A, MODEL_C}
    assert first.summary("alpha")[LABELS]["task_index"] == "0"
    assert first.summary("alpha")[LABELS]["execution"] == "job-abc"

    second = job.run(**env, CLOUD_RUN_TASK_INDEX="1")
    assert second.code == 0, second.output
    assert [s.model_id for s in job.fake.submissions][2:] == [MODEL_B]
    assert second.summary("beta")[LABELS]["task_index"] == "1"


def test_a_task_without_a_share_exits_0_and_says_so(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run(NUMERAI_MODEL_ID=MODEL_A, CLOUD_RUN_TASK_COUNT="3", CLOUD_RUN_TASK_INDEX="2")

    assert result.code == 0
    assert "task 2 of 3 has no model to run" in result.output
    assert job.fake.requests == []


def test_entries_with_the_same_predictor_and_options_are_predicted_once(job, pred1_models):
    """One model submitted under several Numerai model ids."""
    job.register(
        alpha=pred1_entry(MODEL_A, pred1_models["medium"]),
        beta=pred1_entry(MODEL_B, pred1_models["medium"]),
        gamma=pred1_entry(MODEL_C, pred1_models["small"], feature_set="small"),
    )
    built = []

    def counting_loader(name, options):
        built.append(options["feature_set"])
        return load_predictor(name, options)

    result = job.run(NUMERAI_MODEL_ID="all", load_predictor=counting_loader)

    assert result.code == 0, result.output
    assert built == ["medium", "small"]
    subs = {s.model_id: s for s in job.fake.submissions}
    assert subs[MODEL_A].csv == subs[MODEL_B].csv != subs[MODEL_C].csv
    assert "predict" not in result.summary("beta")["durations"]
    assert "same predictor and options as model alpha" in result.output
