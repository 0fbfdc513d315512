"""Pickles made the way Numerai's notebooks make them, in Numerai's hosted environment
(tests/model_upload/hosted_env.py), run through ``python -m job`` against the fake Numerai:
the job submits exactly what Numerai's own runner computes from them. And ``diagnose``
passes each of them here, and names scikit-learn where it is missing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from predictors.model_upload import diagnose
from tests.job.support import MODEL_A, MODEL_B, MODEL_C, REPO_ROOT
from tests.model_upload import hosted_env
from tests.model_upload.test_job_runs_pickles import submitted, upload_entry

MODEL_IDS = {
    "example_model": MODEL_A,
    "hello_numerai": MODEL_B,
    "xgboost_model": MODEL_C,
    "sklearn_pipeline": "44444444-4444-4444-8444-444444444444",
    "pandas_objects": "55555555-5555-4555-8555-555555555555",
}
# Numerai's runner wrote these with every digit; the job's CSV goes through float64 too.
TOLERANCE = 1e-6
SCIKIT_LEARN_HINT = "add it to the job extra (uv add --optional job scikit-learn)"


def hosted_output(pickle: hosted_env.HostedPickle) -> pd.Series:
    return pd.read_csv(pickle.expected, dtype={"id": str}).set_index("id")["prediction"]


def test_notebook_pickles_submit_what_numerais_runner_computes(job, hosted_pickles, synthetic_data):
    assert set(hosted_pickles) == set(MODEL_IDS)
    job.register(
        **{name: upload_entry(MODEL_IDS[name], p.path) for name, p in hosted_pickles.items()}
    )

    result = job.run_subprocess(NUMERAI_MODEL_ID="all")

    assert result.code == 0, result.output
    live_ids = list(pd.read_parquet(synthetic_data / "live.parquet").index)
    for name, pickle in hosted_pickles.items():
        got = submitted(job, MODEL_IDS[name])
        want = hosted_output(pickle)
        assert list(got.index) == live_ids, name
        assert got.std() > 0, name  # a real model's predictions, not a constant
        pd.testing.assert_series_equal(
            got, want.reindex(got.index), check_names=False, rtol=0, atol=TOLERANCE, obj=name
        )
        assert result.summary(name)["event"] == "submitted"


@pytest.mark.parametrize("name", hosted_env.NOTEBOOKS)
def test_diagnose_passes_each_notebook_pickle(hosted_pickles, synthetic_data, capsys, name):
    pickle = hosted_pickles[name]
    code = diagnose.main([str(pickle.path), "--live", str(synthetic_data / "live.parquet")], {})
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"calling predict() on 300 rows of {synthetic_data / 'live.parquet'}" in out
    assert "the job would submit: 300 predictions in [" in out


def test_diagnose_on_rows_synthesised_from_features_json(hosted_pickles, synthetic_data, capsys):
    features = synthetic_data / "features.json"
    pickle = hosted_pickles["example_model"]  # two parameters: benchmarks are synthesised too
    assert diagnose.main([str(pickle.path), "--features", str(features), "--rows", "50"], {}) == 0
    out = capsys.readouterr().out
    assert f"calling predict() on 50 rows synthesised from {features}" in out
    assert "no live_benchmark_models.parquet found" in out
    assert "the job would submit: 50 predictions" in out


def run_diagnose(python: Path, pickle: Path, live: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "predictors.model_upload.diagnose", str(pickle), "--live", str(live)],
        cwd=REPO_ROOT,
        env=hosted_env.clean_env(),
        capture_output=True,
        text=True,
        timeout=hosted_env.RUN_TIMEOUT,
        check=False,
    )


def test_without_scikit_learn_diagnose_names_it(
    hosted_pickles, synthetic_data, without_sklearn_python
):
    live = synthetic_data / "live.parquet"

    lightgbm = run_diagnose(without_sklearn_python, hosted_pickles["example_model"].path, live)

    assert lightgbm.returncode == 1, lightgbm.stdout + lightgbm.stderr
    # It loads (lightgbm imports without scikit-learn) …
    assert "loads here: predict() takes 2 argument(s)" in lightgbm.stdout
    assert "warning: lightgbm's scikit-learn API (LGBMRegressor …) needs scikit-learn" in (
        lightgbm.stdout
    )
    # … and fails when called, which diagnose now finds out before a deploy does.
    last = lightgbm.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the job would not submit: pickle ")
    assert "predict() raised AttributeError: 'super' object has no attribute 'get_params'" in last
    assert "needs scikit-learn (module 'sklearn'), which this image does not have" in last
    assert SCIKIT_LEARN_HINT in last

    pipeline = run_diagnose(without_sklearn_python, hosted_pickles["sklearn_pipeline"].path, live)

    assert pipeline.returncode == 1, pipeline.stdout + pipeline.stderr
    assert f"needs module 'sklearn', which this image does not have: {SCIKIT_LEARN_HINT}" in (
        pipeline.stderr
    )


def test_without_scikit_learn_the_job_fails_naming_it(job, hosted_pickles, without_sklearn_python):
    job.register(hello=upload_entry(MODEL_A, hosted_pickles["hello_numerai"].path))

    result = job.run_subprocess(python=without_sklearn_python, NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 1, result.output
    [failed] = result.events("failed")
    assert failed["reason"].startswith("predict: pickle ")
    assert "needs scikit-learn (module 'sklearn')" in failed["reason"]
    assert SCIKIT_LEARN_HINT in failed["reason"]
    assert job.fake.submissions == []
