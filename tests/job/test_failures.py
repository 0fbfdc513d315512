"""Failure paths: each gives the right exit code and one line saying what and why."""

from __future__ import annotations

import time

import numpy as np
import pytest

from common.retry import NO_DELAY
from job.plugins import load_predictor
from tests.job.support import MODEL_A, MODEL_B, UNREGISTERED, pred1_entry


def reason(result, model_name: str) -> str:
    line = result.summary(model_name)
    assert line["event"] == "failed"
    assert line["severity"] == "ERROR"
    assert line["submission_id"] is None
    return line["reason"]


# -- configuration and input: exit 2 -------------------------------------------------


def test_unknown_model_is_exit_2_naming_the_id(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run(NUMERAI_MODEL_ID=f"{MODEL_A},{UNREGISTERED}")

    assert result.code == 2
    assert f"model {UNREGISTERED} is not registered in {job.models_file}" in result.output
    assert job.fake.requests == []


def test_malformed_registry_is_exit_2_naming_file_and_entry(job):
    job.models_file.write_text('[models.broken]\nid = "not-a-uuid"\npredictor = "pred1"\n')
    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 2
    assert str(job.models_file) in result.output
    assert "[models.broken]" in result.output


def test_missing_registry_is_exit_2_naming_the_file(job):
    result = job.run(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_MODELS_FILE=str(job.tmp_path / "nope.toml"))

    assert result.code == 2
    assert "nope.toml" in result.output


def test_missing_credentials_is_exit_2_naming_both_variables(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_PUBLIC_ID=None, NUMERAI_SECRET_KEY=None)

    assert result.code == 2
    assert "NUMERAI_PUBLIC_ID and NUMERAI_SECRET_KEY" in result.output
    assert job.fake.requests == []


def test_half_the_credentials_is_exit_2_naming_both_variables(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_SECRET_KEY=None)

    assert result.code == 2
    assert "NUMERAI_PUBLIC_ID and NUMERAI_SECRET_KEY" in result.output
    assert "only NUMERAI_PUBLIC_ID is set" in result.output


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        ((), {"NUMERAI_MODEL_ID": None}, "NUMERAI_MODEL_ID"),
        ((), {"NUMERAI_MODEL_ID": "abc"}, "NUMERAI_MODEL_ID: 'abc' is not a Numerai model id"),
        (("--model-id", "all," + MODEL_A), {}, "--model-id: 'all' cannot be combined"),
        ((), {"NUMERAI_ROUND": "soon"}, "NUMERAI_ROUND"),
        ((), {"NUMERAI_DRY_RUN": "maybe"}, "NUMERAI_DRY_RUN"),
        ((), {"NUMERAI_IS_TEST": "perhaps"}, "NUMERAI_IS_TEST"),
        ((), {"CLOUD_RUN_TASK_COUNT": "0"}, "CLOUD_RUN_TASK_COUNT"),
        ((), {"CLOUD_RUN_TASK_COUNT": "2", "CLOUD_RUN_TASK_INDEX": "2"}, "CLOUD_RUN_TASK_INDEX=2"),
        ((), {"NUMERAI_REQUEST_TIMEOUT": "-1"}, "NUMERAI_REQUEST_TIMEOUT"),
        ((), {"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        (("--output", "x.csv"), {}, "--output is only used with --dry-run"),
    ],
)
def test_bad_settings_are_exit_2_naming_the_variable(job, argv, env, named):
    job.register(alpha=pred1_entry(MODEL_A, "unused.cbm"))
    result = job.run(*argv, **{"NUMERAI_MODEL_ID": MODEL_A, **env})

    assert result.code == 2
    assert named in result.output
    assert job.fake.requests == []


# -- a model that fails: exit 1, the others still submit -----------------------------


class Misbehaving:
    """A predictor returning a chosen wrong output (or raising)."""

    data_version = "v5.3"

    def __init__(self, kind: str):
        self.kind = kind

    def columns(self, features):
        return features["feature_sets"]["small"]

    def predict(self, live, context):
        n = live.height
        good = np.linspace(0.01, 1.0, n)
        if self.kind == "raises":
            raise RuntimeError("model exploded")
        if self.kind == "nan":
            good[3] = np.nan
            return good
        if self.kind == "out_of_range":
            return good * 1.5
        if self.kind == "constant":
            return np.full(n, 0.5)
        if self.kind == "short":
            return good[:-1]
        raise AssertionError(self.kind)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("raises", "predict: predictor 'bad' raised RuntimeError: model exploded"),
        ("nan", "1 predictions are NaN or infinite"),
        ("out_of_range", "predictions must lie in [0, 1], got min 0.015, max 1.5"),
        ("constant", "all predictions are 0.5; Numerai rejects constant predictions"),
        ("short", "got 299 predictions for 300 live ids"),
    ],
)
def test_a_failing_predictor_fails_its_model_only(job, pred1_models, kind, expected):
    job.register(
        broken={"id": MODEL_A, "predictor": "bad"},
        alpha=pred1_entry(MODEL_B, pred1_models["medium"]),
    )

    def loader(name, options):
        return Misbehaving(kind) if name == "bad" else load_predictor(name, options)

    result = job.run(NUMERAI_MODEL_ID="all", load_predictor=loader)

    assert result.code == 1
    assert expected in reason(result, "broken")
    assert f"model broken ({MODEL_A}) failed" in result.summary("broken")["message"]
    assert result.summary("alpha")["event"] == "submitted"
    assert [s.model_id for s in job.fake.submissions] == [MODEL_B]


def test_missing_model_file_fails_that_model_naming_the_path(job, pred1_models):
    missing = job.tmp_path / "absent.cbm"
    job.register(
        gone=pred1_entry(MODEL_A, missing),
        alpha=pred1_entry(MODEL_B, pred1_models["medium"]),
    )
    result = job.run(NUMERAI_MODEL_ID="all")

    assert result.code == 1
    assert f"model file {missing} not found" in reason(result, "gone")
    assert [s.model_id for s in job.fake.submissions] == [MODEL_B]


def test_unknown_predictor_and_bad_options_fail_their_model(job, pred1_models):
    job.register(
        nopkg={"id": MODEL_A, "predictor": "no_such_predictor"},
        badopt={"id": MODEL_B, "options": {"model_path": "x.cbm", "colour": "red"}},
    )
    result = job.run(NUMERAI_MODEL_ID="all")

    assert result.code == 1
    assert "no module predictors/no_such_predictor/predictor.py" in reason(result, "nopkg")
    assert "bad options ['colour', 'model_path']" in reason(result, "badopt")


def test_model_trained_on_another_feature_set_fails_clearly(job, pred1_models):
    job.register(wrong=pred1_entry(MODEL_A, pred1_models["small"], feature_set="medium"))
    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 1
    assert "does not match feature set 'medium'" in reason(result, "wrong")
    assert job.fake.submissions == []


# -- Numerai misbehaving -------------------------------------------------------------


def test_transient_5xx_is_retried_and_recovered(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    job.fake.faults.graphql_5xx(2, status=503)
    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 0, result.output
    assert [r.status for r in job.fake.requests[:3]] == [503, 503, 200]
    assert len(job.fake.submissions) == 1
    assert "retrying" in result.output


def test_persistent_5xx_fails_after_bounded_retries(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    job.fake.faults.graphql_5xx(100, status=502)
    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 1
    assert f"failed after {NO_DELAY.attempts} attempts: Numerai API answered HTTP 502" in reason(
        result, "alpha"
    )
    assert len(job.fake.requests) == NO_DELAY.attempts


def test_graphql_hang_is_bounded_by_the_timeout(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    job.fake.faults.graphql_delay(100, seconds=60)
    started = time.monotonic()
    result = job.run(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_REQUEST_TIMEOUT="0.3")
    elapsed = time.monotonic() - started

    assert result.code == 1
    assert "Numerai API unreachable (ReadTimeout)" in reason(result, "alpha")
    assert elapsed < 10  # 4 attempts × 0.3 s, not 4 × 60 s


def test_truncated_download_is_discarded_and_fetched_again(job, pred1_models, synthetic_data):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    job.fake.faults.truncate_downloads(2, fraction=0.5)
    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 0, result.output
    cached = job.data_dir / "v5.3" / "842"
    for name in ("features.json", "live.parquet"):
        assert (cached / name).read_bytes() == (synthetic_data / name).read_bytes()
    assert sorted(p.name for p in cached.iterdir()) == ["features.json", "live.parquet"]
    assert len(job.fake.submissions) == 1


def test_download_truncated_every_time_is_never_used(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    job.fake.faults.truncate_downloads(100, fraction=0.9)
    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 1
    assert "download of v5.3/features.json failed after" in reason(result, "alpha")
    assert list((job.data_dir / "v5.3" / "842").iterdir()) == []  # no partial file left
    assert job.fake.submissions == []


def test_a_download_slower_than_its_time_budget_fails_the_model(job, pred1_models):
    """The transfer keeps going (every read gets data), only too slowly: bounded by
    NUMERAI_DOWNLOAD_TIMEOUT, not by a per-read timeout it never hits."""
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    job.fake.faults.slow_downloads(100, seconds_per_chunk=0.2)
    result = job.run(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_DOWNLOAD_TIMEOUT="0.5")

    assert result.code == 1
    why = reason(result, "alpha")
    assert "download of v5.3/live.parquet failed after 4 attempts" in why
    assert "download took longer than 0.5 s" in why and "NUMERAI_DOWNLOAD_TIMEOUT" in why
    assert list((job.data_dir / "v5.3" / "842").iterdir()) == [
        job.data_dir / "v5.3" / "842" / "features.json"
    ]  # no partial live.parquet left
    assert job.fake.submissions == []


def test_a_stalled_read_is_cut_by_the_request_timeout_and_retried(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    # One download stalls longer than NUMERAI_REQUEST_TIMEOUT (1 s in these tests).
    job.fake.faults.slow_downloads(1, seconds_per_chunk=3.0)
    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 0, result.output
    assert len(job.fake.submissions) == 1


def test_a_bad_download_timeout_is_exit_2(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_DOWNLOAD_TIMEOUT="soon")
    assert result.code == 2
    assert "NUMERAI_DOWNLOAD_TIMEOUT must be a positive number of seconds" in result.output


def test_failed_put_is_never_reported_as_success(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    job.fake.faults.fail_puts(100, status=500)
    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 1
    assert "upload failed after" in reason(result, "alpha")
    assert "upload PUT answered HTTP 500" in reason(result, "alpha")
    assert result.events("submitted") == []
    assert job.fake.submissions == []
    assert not any(r.graphql_op == "create_submission" for r in job.fake.requests)


def test_refused_put_fails_at_once(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    job.fake.faults.fail_puts(1, status=403)
    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 1
    assert "upload PUT answered HTTP 403; the file did not arrive" in reason(result, "alpha")
    assert sum(r.method == "PUT" for r in job.fake.requests) == 1


def test_one_failed_put_is_retried_with_a_fresh_upload_url(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    job.fake.faults.fail_puts(1, status=503)
    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 0, result.output
    puts = [r.path for r in job.fake.requests if r.method == "PUT"]
    assert len(puts) == 2 and puts[0] != puts[1]
    assert len(job.fake.submissions) == 1


def test_create_submission_error_is_exit_1_with_a_clear_line(job, pred1_models):
    job.register(
        alpha=pred1_entry(MODEL_A, pred1_models["medium"]),
        beta=pred1_entry(MODEL_B, pred1_models["medium"]),
    )
    job.fake.faults.create_submission_error("Round is closed for submissions", count=1)
    result = job.run(NUMERAI_MODEL_ID="all")

    assert result.code == 1
    assert reason(result, "alpha") == "upload: Round is closed for submissions"
    assert result.summary("beta")["event"] == "submitted"
    assert [s.model_id for s in job.fake.submissions] == [MODEL_B]


def test_rejected_keys_fail_with_numerais_message(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_SECRET_KEY="WRONG")

    assert result.code == 1
    assert "You must be authenticated" in reason(result, "alpha")


def test_unreachable_api_fails_every_model_with_the_round_reason(job, pred1_models):
    job.register(
        alpha=pred1_entry(MODEL_A, pred1_models["medium"]),
        beta=pred1_entry(MODEL_B, pred1_models["medium"]),
    )
    job.fake.stop()
    result = job.run(NUMERAI_MODEL_ID="all")

    assert result.code == 1
    for name in ("alpha", "beta"):
        assert "round: get_current_round failed after" in reason(result, name)
