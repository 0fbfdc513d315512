"""``make rehearse`` end to end: local/rehearse.py against the fake Numerai."""

from __future__ import annotations

import subprocess
import sys

import pytest

from common.registry import ModelEntry
from local.sandbox import LocalRunError, ensure_model
from tests.job.support import REPO_ROOT


def rehearse(scratch, *argv: str, timeout: float = 300):
    """``python -m local.rehearse --scratch SCRATCH ARGV…``, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "local.rehearse", "--scratch", str(scratch), *argv],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_rehearsal_trains_once_runs_the_job_and_shows_the_submission(tmp_path):
    shipped_model = REPO_ROOT / "predictors" / "pred1" / "model.cbm"
    before = shipped_model.stat().st_mtime_ns if shipped_model.exists() else None

    first = rehearse(tmp_path)

    assert first.returncode == 0, first.stdout + first.stderr
    assert "training a small pred1 model" in first.stdout
    assert "the fake received submission" in first.stdout
    assert (
        "model 5f1a7c2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b, 300 rows, round 842, trigger rehearsal-"
        in first.stdout
    )
    assert '"event": "submitted"' in first.stdout
    assert (tmp_path / "pred1.cbm").is_file()
    assert str(tmp_path / "pred1.cbm") in (tmp_path / "models.toml").read_text()

    second = rehearse(tmp_path)

    assert second.returncode == 0, second.stdout + second.stderr
    assert "training" not in second.stdout
    assert "the fake received submission" in second.stdout
    after = shipped_model.stat().st_mtime_ns if shipped_model.exists() else None
    assert after == before  # the shipped model is never replaced by a synthetic one


def test_rehearsal_of_an_unregistered_model_exits_2_naming_it(tmp_path):
    done = rehearse(tmp_path, "--model", "nope", timeout=60)
    assert done.returncode == 2
    assert "has no [models.nope]" in done.stderr
    assert "starting the fake" not in done.stdout  # nothing was started


def test_rehearsal_of_a_model_upload_entry_uses_a_stand_in_pickle(tmp_path):
    models = tmp_path / "models.toml"
    models.write_text(
        "[models.my_upload]\n"
        'id = "66666666-6666-4666-8666-666666666666"\n'
        'predictor = "model_upload"\n'
        "[models.my_upload.options]\n"
        'pickle_path = "/models/my_model.pkl"\n'
    )
    scratch = tmp_path / "scratch"

    done = rehearse(scratch, "--models-file", str(models), "--model", "my_upload")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "uses a stand-in made like Numerai's example notebook" in done.stdout
    assert "python -m predictors.model_upload.diagnose /models/my_model.pkl" in done.stdout
    assert "model 66666666-6666-4666-8666-666666666666, 300 rows, round 842" in done.stdout
    assert '"event": "submitted"' in done.stdout
    registry = (scratch / "models.toml").read_text()
    assert f'pickle_path = "{scratch / "model_upload.pkl"}"' in registry
    assert "model_path" not in registry
    # The 2-parameter stand-in got the benchmarks, downloaded through the job's cache.
    assert list((scratch / "data" / "v5.3" / "842").glob("live_benchmark_models.parquet"))


def test_rehearsal_of_a_predictor_without_a_local_model_exits_1_naming_it(tmp_path):
    models = tmp_path / "models.toml"
    models.write_text(
        '[models.mine]\nid = "77777777-7777-4777-8777-777777777777"\npredictor = "my_torch"\n'
    )
    done = rehearse(tmp_path / "s", "--models-file", str(models), "--model", "mine", timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "rehearsal FAILED: [models.mine] uses predictor 'my_torch': local runs make a model "
        "for pred1 and model_upload entries only"
    ) in done.stdout
    assert "the fake received" not in done.stdout


def test_stand_in_pickle_without_the_fakes_data_is_a_local_run_error(tmp_path):
    entry = ModelEntry(
        name="up", id="66666666-6666-4666-8666-666666666666", predictor="model_upload", options={}
    )
    with pytest.raises(
        LocalRunError, match=r"^could not make the stand-in pickle: .*features\.json"
    ):
        ensure_model(entry, tmp_path, {})
    assert not (tmp_path / "model_upload.pkl").exists()
