"""Reading a pickle without running it, and the ``diagnose`` command."""

from __future__ import annotations

import json
import pickle
import platform
import shutil

import cloudpickle
import numpy as np
import pandas as pd
import polars as pl
import pytest

from predictors.model_upload import diagnose, live_sample, pickle_facts
from tests.model_upload import pickles


def test_modules_referenced_by_reference():
    frame = pd.DataFrame({"w": np.arange(3.0)})  # pickled by reference to pandas classes

    def predict(live_features):
        return live_features @ frame["w"]

    facts = pickle_facts.inspect_pickle(cloudpickle.dumps(predict))

    assert facts.complete and facts.problem is None
    assert facts.protocol == cloudpickle.DEFAULT_PROTOCOL
    assert {"cloudpickle", "numpy", "pandas"} <= set(facts.modules)
    assert "builtins" in facts.modules and "builtins" not in facts.third_party()


def test_modules_cloudpickle_reimports_by_name():
    def predict(live_features):
        return np.clip(live_features, 0, 1)  # the global `np` is pickled as subimport("numpy")

    facts = pickle_facts.inspect_pickle(cloudpickle.dumps(predict))
    assert facts.third_party() == ["cloudpickle", "numpy"]


def test_plain_pickle_of_a_stdlib_object_imports_only_the_standard_library():
    import collections

    facts = pickle_facts.inspect_pickle(pickle.dumps(collections.OrderedDict(a=1), protocol=2))
    assert facts.protocol == 2
    assert facts.modules == ("collections",)
    assert facts.third_party() == []
    assert "imports only the standard library" in pickle_facts.describe_pickle(facts)


def test_code_fields_tell_the_python_that_pickled_the_functions(tmp_path):
    here = pickle_facts.inspect_pickle(cloudpickle.dumps(pickles.feature_mean()))
    assert here.code_fields == (pickle_facts.this_python_code_fields(),) == (18,)
    assert here.python_hint == "Python 3.11 or later"

    old = pickle_facts.inspect_pickle(pickles.python310_pickle(tmp_path / "old.pkl").read_bytes())
    assert old.code_fields == (16,)
    assert old.python_hint == "Python 3.8–3.10"


@pytest.mark.parametrize(
    "data",
    [b"", b"not a pickle at all", cloudpickle.dumps(pickles.feature_mean())[:-40]],
)
def test_broken_bytes_are_reported_incomplete_not_raised(data):
    facts = pickle_facts.inspect_pickle(data)
    assert not facts.complete
    assert facts.problem


def test_runtime_line_names_python_and_installed_versions():
    facts = pickle_facts.PickleFacts(5, ("numpy", "surely_absent_pkg"), (18,), True)
    line = pickle_facts.describe_runtime(facts)
    assert line.startswith(f"this image has Python {platform.python_version()}, cloudpickle ")
    assert f"numpy {np.__version__}" in line
    assert "surely_absent_pkg not installed" in line


def test_cli_accepts_a_good_pickle(tmp_path, capsys, synthetic_data):
    path = pickles.write(tmp_path / "ok.pkl", pickles.benchmark_blend("v5_lgbm_ender20"))
    live = synthetic_data / "live.parquet"
    assert diagnose.main([str(path), "--live", str(live)], {}) == 0
    out = capsys.readouterr().out
    assert "the pickle (protocol 5, functions from Python 3.11 or later)" in out
    assert "loads here: predict() takes 2 argument(s) (live features, live benchmark models)" in out
    # The benchmarks beside the live file are the ones the function gets.
    assert "no live_benchmark_models.parquet found" not in out
    assert out.rstrip().endswith("the job would submit: 300 predictions in [0.00333333, 1]")


def test_cli_explains_a_pickle_that_does_not_load(tmp_path, capsys):
    path = pickles.vanished_module_pickle(tmp_path, tmp_path / "needs.pkl")
    assert diagnose.main([str(path)], {}) == 1
    captured = capsys.readouterr()
    assert f"imports cloudpickle, {pickles.VANISHED_MODULE}" in captured.out
    assert f"needs module '{pickles.VANISHED_MODULE}'" in captured.err


def test_cli_on_a_missing_file_is_bad_input(tmp_path, capsys):
    assert diagnose.main([str(tmp_path / "nope.pkl")], {}) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("make", "cause"),
    [
        (
            pickles.range_index_model,
            "returned 300 predictions whose index does not match the 300 live ids",
        ),
        (pickles.nan_model, "1 predictions are NaN or infinite (first at id "),
        (pickles.out_of_range_model, "predictions must lie in [0, 1], got min 0.5, max 2"),
        (pickles.constant_model, "all predictions are 0.5; Numerai rejects constant predictions"),
    ],
)
def test_cli_refuses_output_the_job_would_not_submit(tmp_path, capsys, synthetic_data, make, cause):
    path = pickles.write(tmp_path / "bad.pkl", make())
    assert diagnose.main([str(path), "--live", str(synthetic_data / "live.parquet")], {}) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: the job would not submit: ")
    assert cause in err[-1]


def test_cli_shows_where_predict_raised(tmp_path, capsys, synthetic_data):
    path = pickles.write(tmp_path / "boom.pkl", pickles.raising_model())
    assert diagnose.main([str(path), "--live", str(synthetic_data / "live.parquet")], {}) == 1
    err = capsys.readouterr().err
    assert "in user_helper_that_divides" in err  # the user's own frame
    assert err.strip().splitlines()[-1] == (
        "error: the job would not submit: predict() raised ZeroDivisionError: division by zero"
    )


def test_cli_takes_the_newest_cached_round(tmp_path, capsys, synthetic_data):
    """Without --live: the job's dataset cache (NUMERAI_DATA_DIR), newest round first."""
    data_dir = tmp_path / "data"
    for round_num in (841, 842):
        folder = data_dir / "v5.3" / str(round_num)
        folder.mkdir(parents=True)
        shutil.copy(synthetic_data / "live.parquet", folder / "live.parquet")
    (data_dir / "v5.3" / "843").mkdir()  # a round whose download never finished
    path = pickles.write(tmp_path / "mean.pkl", pickles.feature_mean())

    code = diagnose.main([str(path), "--rows", "40"], {"NUMERAI_DATA_DIR": str(data_dir)})

    out = capsys.readouterr().out
    assert code == 0, out
    newest = data_dir / "v5.3" / "842" / "live.parquet"
    assert f"calling predict() on 40 rows of {newest} (round 842 in the dataset cache)" in out


def test_cli_synthesises_rows_from_a_cached_features_json(tmp_path, capsys, synthetic_data):
    data_dir = tmp_path / "data"
    (data_dir / "v5.3").mkdir(parents=True)
    shutil.copy(synthetic_data / "features.json", data_dir / "v5.3" / "features.json")
    path = pickles.write(tmp_path / "mean.pkl", pickles.feature_mean())

    assert diagnose.main([str(path), "--data-dir", str(data_dir)], {}) == 0
    out = capsys.readouterr().out
    assert f"on 500 rows synthesised from {data_dir / 'v5.3' / 'features.json'}" in out


def test_cli_on_synthesised_rows_missing_a_column_suggests_the_data_version(
    tmp_path, capsys, synthetic_data
):
    path = pickles.write(tmp_path / "old.pkl", pickles.closure_model(["feature_from_v4"]))
    features = synthetic_data / "features.json"
    assert diagnose.main([str(path), "--features", str(features)], {}) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "predict() raised KeyError" in last and "feature_from_v4" in last
    assert "is the pickle for another data version? see --data-version, --live" in last


def test_cli_without_any_live_data_is_bad_input(tmp_path, capsys):
    path = pickles.write(tmp_path / "mean.pkl", pickles.feature_mean())
    empty = tmp_path / "empty-cache"
    assert diagnose.main([str(path), "--data-dir", str(empty)], {}) == 2
    err = capsys.readouterr().err
    assert f"the dataset cache {empty} has no v5.3 live.parquet or features.json" in err
    assert "pass --live PATH" in err


@pytest.mark.parametrize("flag", ["--live", "--benchmarks", "--features"])
def test_cli_with_a_missing_input_file_is_bad_input(tmp_path, capsys, flag):
    path = pickles.write(tmp_path / "mean.pkl", pickles.feature_mean())
    absent = tmp_path / "absent.file"
    assert diagnose.main([str(path), flag, str(absent)], {}) == 2
    assert f"error: {absent} is not a file" in capsys.readouterr().err


def test_cli_with_a_live_file_that_is_not_parquet(tmp_path, capsys):
    path = pickles.write(tmp_path / "mean.pkl", pickles.feature_mean())
    bogus = tmp_path / "live.parquet"
    bogus.write_text("id,era\n")
    assert diagnose.main([str(path), "--live", str(bogus)], {}) == 2
    assert f"{bogus} is not a readable parquet file" in capsys.readouterr().err


def test_synthesised_rows_are_live_shaped(synthetic_data):
    features_json = json.loads((synthetic_data / "features.json").read_text())
    frame = live_sample.synthesise(features_json, 400)
    real = pl.read_parquet(synthetic_data / "live.parquet")
    assert frame.height == 400 and frame["id"].n_unique() == 400
    assert frame["id"].str.contains(r"^n[0-9a-f]{15}$").all()
    assert set(frame.columns) == set(real.columns)
    assert frame["era"].unique().to_list() == ["X"]
    assert frame["data_type"].unique().to_list() == ["live"]
    features = features_json["feature_sets"]["all"]
    assert all(frame.schema[name] == pl.Int8 for name in features)
    values = frame.select(features).to_numpy()
    assert np.nanmin(values) == 0 and np.nanmax(values) == 4
    assert 0 < frame.select(features).null_count().sum_horizontal().item() < values.size / 20
    assert all(frame[t].null_count() == 400 for t in features_json["targets"])


def test_lightgbm_pickle_refers_to_its_sklearn_api(hosted_pickles):
    """Read without loading: the notebook pickle names lightgbm.sklearn, whose companion
    scikit-learn is installed here (tests/model_upload/test_hosted_pickles.py has an
    environment without it)."""
    facts = pickle_facts.inspect_pickle(hosted_pickles["example_model"].path.read_bytes())
    assert "lightgbm.sklearn" in facts.references
    assert "lightgbm" in facts.third_party()
    assert pickle_facts.missing_companions(facts) == []


def test_missing_distribution_names_are_what_to_install():
    assert pickle_facts.add_hint("sklearn").startswith(
        "add it to the job extra (uv add --optional job scikit-learn)"
    )
    assert "uv add --optional job xgboost-cpu" in pickle_facts.add_hint("xgboost")
    assert "uv add --optional job torch" in pickle_facts.add_hint("torch")


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        ("{}", "features.json lists no features (feature_sets is empty)"),
        ("[1, 2]", "is not a features.json (no feature_sets)"),
        ('{"feature_sets": ', "is not a readable features.json"),
    ],
)
def test_cli_with_an_unusable_features_json_is_bad_input(tmp_path, capsys, content, cause):
    path = pickles.write(tmp_path / "mean.pkl", pickles.feature_mean())
    features = tmp_path / "features.json"
    features.write_text(content)
    assert diagnose.main([str(path), "--features", str(features)], {}) == 2
    assert cause in capsys.readouterr().err


def test_cli_refuses_zero_rows(tmp_path, capsys):
    path = pickles.write(tmp_path / "mean.pkl", pickles.feature_mean())
    with pytest.raises(SystemExit) as exited:
        diagnose.main([str(path), "--rows", "0"], {})
    assert exited.value.code == 2
    assert "--rows must be ≥ 1" in capsys.readouterr().err


def test_diagnose_gives_the_pickle_only_the_benchmarks(tmp_path, synthetic_data):
    sample = live_sample.LiveSample(pl.DataFrame({"id": ["n1"]}), None, "test rows")
    context = diagnose._SampleContext(sample, "v5.3", tmp_path)
    with pytest.raises(diagnose.ModelUploadError, match=r"diagnose has no train\.parquet"):
        context.dataset("train.parquet")
    written = context.dataset("live_benchmark_models.parquet")
    assert pd.read_parquet(written).index.tolist() == ["n1"]
