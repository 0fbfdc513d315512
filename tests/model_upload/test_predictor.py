"""The model_upload predictor on its own: signatures, eras, outputs, odd pickles."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import polars as pl
import pytest

from job.plugins import load_predictor
from predictors.model_upload.predictor import (
    ModelUpload,
    ModelUploadError,
    call_arity,
    create,
    live_features,
)
from tests.model_upload import pickles

PATH = Path("model.pkl")


class Context:
    """The job's RoundContext, reduced to the files of a directory."""

    round = 842
    data_version = "v5.3"

    def __init__(self, folder: Path):
        self.folder = folder
        self.asked: list[str] = []

    def dataset(self, filename: str) -> Path:
        self.asked.append(filename)
        return self.folder / filename


@pytest.fixture
def live(synthetic_data) -> pl.DataFrame:
    return pl.read_parquet(synthetic_data / "live.parquet")


def test_live_features_equal_pandas_read_parquet(live, synthetic_data):
    pd.testing.assert_frame_equal(
        live_features(live), pd.read_parquet(synthetic_data / "live.parquet")
    )


def two_args(a, b): ...
def one_arg(a): ...
def defaulted_second(a, b=None): ...
def star_args(*args): ...
def first_and_star(a, *rest): ...
def with_kwargs(a, **kw): ...
def with_optional_keyword(a, *, debug=False): ...
def three_required(a, b, c): ...
def keyword_required(a, *, mode): ...
def nothing(): ...


@pytest.mark.parametrize(
    ("fn", "arity"),
    [
        (one_arg, 1),
        (two_args, 2),
        (defaulted_second, 2),  # Numerai: len(parameters) == 2 → two
        (star_args, 1),  # Numerai: one parameter → one
        (first_and_star, 2),
        (with_kwargs, 1),  # Numerai would pass 2 positionally and fail
        (with_optional_keyword, 1),
        (lambda live: live, 1),
        (print, 1),  # a builtin: signature unreadable on some versions
    ],
)
def test_call_arity(fn, arity):
    assert call_arity(fn, PATH) == arity


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (three_required, "requires 3 arguments; Numerai passes 1 (live_features) or 2"),
        (keyword_required, "requires keyword argument(s) ['mode']"),
        (nothing, "takes no positional argument"),
        ({"model": 1}, "holds a builtins.dict, not a function"),
    ],
)
def test_uncallable_signatures_are_refused(fn, message):
    with pytest.raises(ModelUploadError, match=r"^pickle model\.pkl") as err:
        call_arity(fn, PATH)
    assert message in str(err.value)


def test_several_eras_get_one_call_each_like_numerai(live, synthetic_data):
    eras = ["0001", "0002"] * (live.height // 2)
    live = live.with_columns(pl.Series("era", eras))
    calls = []

    def predict(features, benchmarks):
        calls.append((sorted(features["era"].unique()), len(features), len(benchmarks)))
        assert benchmarks.index.equals(features.index)
        return features.iloc[:, 2]  # the first feature (pandas: era, data_type, features…)

    model = ModelUpload(predict, PATH, "v5.3", arity=2)
    context = Context(synthetic_data)
    values = model.predict(live, context)

    assert calls == [(["0001"], 150, 150), (["0002"], 150, 150)]
    assert context.asked == ["live_benchmark_models.parquet"]
    first_feature = live.columns[3]
    np.testing.assert_array_equal(values, live[first_feature].to_numpy())


def test_one_era_is_one_call_without_copies(live, synthetic_data):
    seen = []
    model = ModelUpload(lambda f: seen.append(f) or f.iloc[:, 5], PATH, "v5.3", arity=1)
    context = Context(synthetic_data)
    model.predict(live, context)
    assert len(seen) == 1 and len(seen[0]) == live.height
    assert context.asked == []  # one parameter: the benchmarks are never asked for


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda f: None, "returned NoneType, not a pandas DataFrame with a 'prediction' column"),
        (lambda f: np.ones(len(f)), "returned ndarray, not a pandas DataFrame"),
        (
            lambda f: f[["era", "data_type"]],
            "returned a DataFrame with columns ['era', 'data_type']: expected one 'prediction'",
        ),
        (
            lambda f: pd.concat([f.iloc[:, 5], f.iloc[:3, 5]]),
            "returned 3 id(s) more than once (first: ",
        ),
        (
            lambda f: f.iloc[:-2, 5],
            "0 unknown id(s) (first: -), 2 live id(s) without a prediction (first: ",
        ),
    ],
)
def test_outputs_that_are_not_predictions_by_id(live, synthetic_data, make, message):
    model = ModelUpload(make, PATH, "v5.3", arity=1)
    with pytest.raises(ModelUploadError, match=r"the pickled predict\(\) of model\.pkl") as err:
        model.predict(live, Context(synthetic_data))
    assert message in str(err.value)


def test_shuffled_output_is_put_back_in_live_order(live, synthetic_data):
    reverse = lambda f: f.iloc[::-1, [4]].set_axis(["prediction"], axis=1)  # noqa: E731
    model = ModelUpload(reverse, PATH, "v5.3", arity=1)
    values = model.predict(live, Context(synthetic_data))
    np.testing.assert_array_equal(values, live[live.columns[5]].to_numpy())  # + the id column


def test_benchmarks_missing_live_ids_fail_clearly(live, tmp_path, synthetic_data):
    bench = pd.read_parquet(synthetic_data / "live_benchmark_models.parquet").iloc[10:]
    bench.to_parquet(tmp_path / "live_benchmark_models.parquet")
    model = ModelUpload(lambda f, b: b.iloc[:, 0], PATH, "v5.3", arity=2)
    with pytest.raises(ModelUploadError, match="has no row for 10 of 300 live ids"):
        model.predict(live, Context(tmp_path))


def test_registry_options_reach_create(tmp_path):
    path = pickles.write(tmp_path / "m.pkl", pickles.feature_mean())
    predictor = load_predictor("model_upload", {"pickle_path": str(path), "data_version": "v5.2"})
    assert predictor.data_version == "v5.2"
    assert predictor.columns({"feature_sets": {}}) is None
    assert predictor.arity == 1


def test_missing_attribute_names_a_library_version_mismatch(tmp_path):
    with pickles.temporary_module(tmp_path, "numerai_moved_lib", pickles.SCALER_SOURCE) as mod:
        data = cloudpickle.dumps(mod.Scaler(2.0))
        (tmp_path / f"modules-{mod.__name__}" / f"{mod.__name__}.py").write_text("OTHER = 1\n")
        sys.modules.pop(mod.__name__)
        path = tmp_path / "moved.pkl"
        path.write_bytes(data)
        with pytest.raises(ModelUploadError) as err:
            create(str(path))
    message = str(err.value)
    assert "refers to something a library here lacks" in message
    assert "Scaler" in message and "numerai_moved_lib" in message


def test_newer_protocol_says_a_newer_python_made_it(tmp_path):
    data = bytearray(cloudpickle.dumps(pickles.feature_mean(), protocol=5))
    assert data[:2] == b"\x80\x05"
    data[1] = pickle.HIGHEST_PROTOCOL + 1  # the header a future Python would write
    path = tmp_path / "future.pkl"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelUploadError, match="uses protocol 6, newer than this Python reads"):
        create(str(path))


def test_empty_file_is_named_empty(tmp_path):
    path = tmp_path / "empty.pkl"
    path.write_bytes(b"")
    with pytest.raises(ModelUploadError, match=f"^pickle {path} is empty"):
        create(str(path))


def test_a_failure_not_for_want_of_a_package_is_the_users_own(live, synthetic_data, tmp_path):
    def predict(features):
        raise ValueError("the user's bug")

    model = ModelUpload(predict, tmp_path / "gone.pkl", "v5.3", arity=1)  # file since removed
    with pytest.raises(ValueError, match="the user's bug"):
        model.predict(live, Context(synthetic_data))
