"""What the job's own process loads (job.footprint): pyarrow only when a predictor of the
task uses it, polars' allocator set to hand freed memory back, OpenBLAS's idle threads set
to sleep at once."""

from __future__ import annotations

import json

import polars as pl
import pytest

from job import footprint
from job.settings import load_settings
from tests.job.support import MODEL_A, MODEL_B, UNREGISTERED, pred1_entry
from tests.model_upload import pickles

# Runs the job as `python -m job` does (own_process), then reports what got loaded.
PROBE = """
import json, os, sys
from job.cli import main
code = main(own_process={own})
state = sys.modules.get("pyarrow", "absent")
print(json.dumps({{
    "code": code,
    "pyarrow": "blocked" if state is None else "absent" if state == "absent" else "loaded",
    "pandas": "pandas" in sys.modules,
    "jemalloc": os.environ.get("_RJEM_MALLOC_CONF"),
    "openblas": os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
    "numpy": "numpy" in sys.modules,
}}))
"""


def probe(job, *argv: str, own: bool = True, **env: str | None) -> dict:
    run = job.run_python("-c", PROBE.format(own=own), *argv, **env)
    assert run.code == 0, run.stdout + run.stderr
    *logs, last = run.stdout.strip().splitlines()
    return {**json.loads(last), "logs": [json.loads(line) for line in logs]}


def upload_entry(model_id: str, path) -> dict:
    return {"id": model_id, "predictor": "model_upload", "options": {"pickle_path": str(path)}}


def test_a_pred1_task_runs_without_pyarrow(job, pred1_models, synthetic_data):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    out = job.tmp_path / "alpha.csv"

    got = probe(job, "--dry-run", "--output", str(out), NUMERAI_MODEL_ID=MODEL_A)

    assert got["code"] == 0, got["logs"]
    assert got["pyarrow"] == "blocked"  # `import pyarrow` fails: pandas runs without it
    assert got["pandas"]  # numerapi and CatBoost import pandas itself
    # polars puts its own defaults first; jemalloc takes the last value of each option.
    assert got["jemalloc"].endswith("," + footprint.JEMALLOC_CONF)
    # Set before numpy (and with it OpenBLAS) was loaded, which the run then did.
    assert (got["openblas"], got["numpy"]) == (footprint.OPENBLAS_TIMEOUT, True)
    ids = pl.read_parquet(synthetic_data / "live.parquet", columns=["id"])["id"]
    frame = pl.read_csv(out)
    assert frame["id"].to_list() == ids.to_list()
    assert frame["prediction"].min() > 0 and frame["prediction"].max() <= 1


def test_only_the_task_with_a_pickle_loads_pyarrow(job, pred1_models, tmp_path):
    """Two tasks: task 0 runs the pred1 model, task 1 the Model-Upload pickle (which hands
    pandas frames built through Arrow to the pickled function)."""
    pickle_path = pickles.write(tmp_path / "mean.pkl", pickles.feature_mean())
    job.register(
        alpha=pred1_entry(MODEL_A, pred1_models["medium"]),
        upload=upload_entry(MODEL_B, pickle_path),
    )
    tasks = {"NUMERAI_MODEL_ID": "all", "CLOUD_RUN_TASK_COUNT": "2"}

    first = probe(job, CLOUD_RUN_TASK_INDEX="0", **tasks)
    second = probe(job, CLOUD_RUN_TASK_INDEX="1", **tasks)

    assert (first["code"], first["pyarrow"]) == (0, "blocked")
    assert (second["code"], second["pyarrow"]) == (0, "loaded")
    assert sorted(s.model_id for s in job.fake.submissions) == sorted([MODEL_A, MODEL_B])


def test_allocator_and_openblas_settings_from_the_environment_win(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))

    got = probe(
        job,
        "--dry-run",
        NUMERAI_MODEL_ID=MODEL_A,
        _RJEM_MALLOC_CONF="narenas:1",
        OPENBLAS_THREAD_TIMEOUT="12",
    )

    assert got["code"] == 0
    assert got["jemalloc"].endswith(",narenas:1") and footprint.JEMALLOC_CONF not in got["jemalloc"]
    assert got["openblas"] == "12"


def test_in_process_runs_change_nothing_process_wide(job, pred1_models):
    """Tests (and anything else embedding the job) call main() without own_process."""
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))

    got = probe(job, "--dry-run", own=False, NUMERAI_MODEL_ID=MODEL_A)

    assert (got["code"], got["pyarrow"]) == (0, "loaded")
    assert footprint.JEMALLOC_CONF not in got["jemalloc"]  # polars' own defaults only
    assert got["openblas"] is None


def test_a_refused_selection_keeps_pyarrow_and_is_reported(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))

    got = probe(job, NUMERAI_MODEL_ID=UNREGISTERED)

    assert (got["code"], got["pyarrow"]) == (2, "loaded")
    assert UNREGISTERED in got["logs"][-1]["message"]


@pytest.mark.parametrize(
    ("registry", "model_id", "needed"),
    [
        ({"alpha": {"id": MODEL_A, "predictor": "pred1"}}, "all", False),
        ({"alpha": {"id": MODEL_A, "predictor": "model_upload"}}, "all", True),  # undeclared
        ({"alpha": {"id": MODEL_A, "predictor": "no_such_plugin"}}, "all", True),
        ({"alpha": {"id": MODEL_A, "predictor": "pred1"}}, UNREGISTERED, True),
        (None, "all", True),  # no registry file
    ],
    ids=["pred1", "undeclared", "missing-plugin", "unregistered-model", "no-registry"],
)
def test_pyarrow_is_needed_unless_every_predictor_declares_otherwise(
    job, registry, model_id, needed
):
    if registry is not None:
        job.register(**registry)
    settings = load_settings([], job.env(NUMERAI_MODEL_ID=model_id))

    assert footprint.pyarrow_needed(settings) is needed
