"""Model-Upload pickles run through the whole job (real numerapi, fake Numerai): what
Numerai would pass them, and what the fake Numerai received."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from tests.job.support import MODEL_A, MODEL_B
from tests.model_upload import pickles

LIVE = "live.parquet"
BENCHMARKS = "live_benchmark_models.parquet"


def upload_entry(model_id: str, pickle_path: Path) -> dict:
    return {
        "id": model_id,
        "predictor": "model_upload",
        "options": {"pickle_path": str(pickle_path)},
    }


def submitted(job, model_id: str) -> pd.Series:
    [sub] = [s for s in job.fake.submissions if s.model_id == model_id]
    frame = pd.read_csv(io.BytesIO(sub.csv), dtype={"id": str})
    assert list(frame.columns) == ["id", "prediction"]
    return frame.set_index("id")["prediction"]


def expected(fn, synthetic_data: Path, *, benchmarks: bool = False) -> pd.Series:
    """What Numerai would compute: the function on pandas.read_parquet of the files."""
    live = pd.read_parquet(synthetic_data / LIVE)
    args = [live]
    if benchmarks:
        args.append(pd.read_parquet(synthetic_data / BENCHMARKS).loc[live.index])
    out = fn(*args)
    series = out["prediction"] if isinstance(out, pd.DataFrame) else out
    return series.astype(float)


def reason(result, model_name: str) -> str:
    [line] = [
        line
        for line in result.events("failed")
        if line["logging.googleapis.com/labels"]["model_name"] == model_name
    ]
    assert line["severity"] == "ERROR"
    assert line["submission_id"] is None
    return line["reason"]


def test_one_argument_pickle_submits_its_predictions_without_benchmarks(
    job, tmp_path, synthetic_data
):
    path = pickles.write(tmp_path / "mean.pkl", pickles.feature_mean())
    job.register(upload=upload_entry(MODEL_A, path))

    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 0, result.output
    got = submitted(job, MODEL_A)
    want = expected(pickles.feature_mean(), synthetic_data)
    pd.testing.assert_series_equal(got, want.reindex(got.index), check_names=False)
    assert list(got.index) == list(pd.read_parquet(synthetic_data / LIVE).index)  # live order
    assert job.fake.file_gets(BENCHMARKS) == 0  # one parameter: no benchmark download
    assert result.summary("upload")["event"] == "submitted"


def test_two_argument_pickle_gets_the_benchmarks_through_the_cache(job, tmp_path, synthetic_data):
    fn = pickles.benchmark_blend("v5_lgbm_cyrusd20")
    path = pickles.write(tmp_path / "blend.pkl", fn)
    job.register(upload=upload_entry(MODEL_A, path))

    first = job.run(NUMERAI_MODEL_ID=MODEL_A)
    second = job.run(NUMERAI_MODEL_ID=MODEL_A, TRIGGER_ID="again")

    assert first.code == second.code == 0, first.output + second.output
    subs = [pd.read_csv(io.BytesIO(s.csv), dtype={"id": str}) for s in job.fake.submissions]
    assert len(subs) == 2 and subs[0].equals(subs[1])
    got = subs[0].set_index("id")["prediction"]
    want = expected(fn, synthetic_data, benchmarks=True)
    pd.testing.assert_series_equal(got, want.reindex(got.index), check_names=False)
    assert job.fake.file_gets(BENCHMARKS) == 1  # downloaded once, then from the cache
    assert (job.data_dir / "v5.3" / str(job.fake.current_round) / BENCHMARKS).is_file()


def test_the_function_receives_what_numerai_would_pass(job, tmp_path, synthetic_data):
    seen = tmp_path / "seen"
    seen.mkdir()
    path = pickles.write(tmp_path / "recorder.pkl", pickles.recorder(seen))
    job.register(upload=upload_entry(MODEL_A, path))

    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 0, result.output
    live = pd.read_parquet(synthetic_data / LIVE)
    got = pd.read_pickle(seen / "live_features.pkl")
    pd.testing.assert_frame_equal(got, live)  # index id, every column, same dtypes
    assert {"era", "data_type", "target"} <= set(got.columns)
    bench = pd.read_pickle(seen / "live_benchmark_models.pkl")
    pd.testing.assert_frame_equal(
        bench, pd.read_parquet(synthetic_data / BENCHMARKS).loc[live.index]
    )


def test_lambda_closure_and_series_pickles_submit(job, tmp_path, synthetic_data):
    columns = [
        c for c in pd.read_parquet(synthetic_data / LIVE).columns if c.startswith("feature_")
    ]
    closure = pickles.closure_model(columns[:5])
    job.register(
        lam=upload_entry(MODEL_A, pickles.write(tmp_path / "lambda.pkl", closure)),
        series=upload_entry(
            MODEL_B, pickles.write(tmp_path / "series.pkl", pickles.series_model())
        ),
    )

    result = job.run(NUMERAI_MODEL_ID="all")

    assert result.code == 0, result.output
    got = submitted(job, MODEL_A)
    pd.testing.assert_series_equal(
        got, expected(closure, synthetic_data).reindex(got.index), check_names=False
    )
    got_series = submitted(job, MODEL_B)
    want_series = expected(pickles.series_model(), synthetic_data)
    pd.testing.assert_series_equal(
        got_series, want_series.reindex(got_series.index), check_names=False
    )


def test_predictions_without_the_live_ids_fail_with_a_hint(job, tmp_path):
    path = pickles.write(tmp_path / "noids.pkl", pickles.range_index_model())
    job.register(noids=upload_entry(MODEL_A, path))

    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 1
    why = reason(result, "noids")
    assert why.startswith("predict: the pickled predict() of noids.pkl returned 300 predictions")
    assert "300 unknown id(s) (first: 0, 1, 2)" in why
    assert "index the result by live_features.index" in why
    assert job.fake.submissions == []


def test_nan_predictions_fail_with_the_jobs_validation(job, tmp_path):
    job.register(
        nan=upload_entry(MODEL_A, pickles.write(tmp_path / "nan.pkl", pickles.nan_model()))
    )

    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 1
    assert "validate: 1 predictions are NaN or infinite" in reason(result, "nan")
    assert job.fake.submissions == []


def test_a_raising_predict_shows_the_users_traceback(job, tmp_path, pred1_free_other_model):
    path = pickles.write(tmp_path / "boom.pkl", pickles.raising_model())
    job.register(boom=upload_entry(MODEL_A, path), fine=pred1_free_other_model(MODEL_B))

    result = job.run(NUMERAI_MODEL_ID="all")

    assert result.code == 1
    assert reason(result, "boom") == (
        "predict: predictor 'model_upload' raised ZeroDivisionError: division by zero"
    )
    [line] = result.events("failed")
    assert "in user_helper_that_divides" in line["exception"]  # the user's own frame
    assert line["exception"].rstrip().endswith("ZeroDivisionError: division by zero")
    assert [s.model_id for s in job.fake.submissions] == [MODEL_B]  # the other model ran


@pytest.fixture
def pred1_free_other_model(tmp_path):
    """A second, healthy upload model (no CatBoost training needed)."""

    def entry(model_id: str) -> dict:
        return upload_entry(model_id, pickles.write(tmp_path / "ok.pkl", pickles.feature_mean()))

    return entry


def test_missing_module_is_named_with_the_fix(job, tmp_path):
    path = pickles.vanished_module_pickle(tmp_path, tmp_path / "needs.pkl")
    job.register(needs=upload_entry(MODEL_A, path))

    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 1
    why = reason(result, "needs")
    assert why.startswith(
        f"predictor: pickle {path} needs module '{pickles.VANISHED_MODULE}', which this image "
        f"does not have: add it to the job extra (uv add --optional job {pickles.VANISHED_MODULE})"
    )
    assert "this image has Python 3." in why and f"{pickles.VANISHED_MODULE} not installed" in why
    assert job.fake.file_gets(LIVE) == 0  # failed before any download
    assert job.fake.submissions == []


def test_pickle_from_another_python_names_both_versions(job, tmp_path):
    path = pickles.python310_pickle(tmp_path / "py310.pkl")
    job.register(old=upload_entry(MODEL_A, path))

    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 1
    why = reason(result, "old")
    assert "holds functions pickled by Python 3.8–3.10, which Python 3.11" in why
    assert "TypeError: code() argument" in why
    assert "build a job image for that Python" in why


def test_truncated_and_missing_pickles_fail_clearly(job, tmp_path):
    whole = pickles.write(tmp_path / "whole.pkl", pickles.feature_mean()).read_bytes()
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(whole[: len(whole) // 2])
    absent = tmp_path / "absent.pkl"
    job.register(cut=upload_entry(MODEL_A, cut), absent=upload_entry(MODEL_B, absent))

    result = job.run(NUMERAI_MODEL_ID="all")

    assert result.code == 1
    assert reason(result, "cut").startswith(
        f"predictor: pickle {cut} is truncated or not a pickle ({len(whole) // 2} bytes;"
    )
    assert reason(result, "absent") == (
        f"predictor: predictor 'model_upload': pickle file {absent} not found (option pickle_path)"
    )
    assert job.fake.submissions == []


def test_module_imported_inside_predict_is_named_with_the_fix(job, tmp_path):
    path = pickles.write(tmp_path / "lazy.pkl", pickles.lazy_import_model("sklearn_absent_lib"))
    job.register(lazy=upload_entry(MODEL_A, path))

    result = job.run(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 1
    assert reason(result, "lazy") == (
        f"predict: pickle {path}: predict() raised ModuleNotFoundError: No module named "
        "'sklearn_absent_lib' — it needs module 'sklearn_absent_lib': add it to the job extra "
        "(uv add --optional job sklearn_absent_lib) and rebuild the image"
    )
    assert job.fake.submissions == []
