"""Dry run: everything but the upload, predictions written to --output."""

from __future__ import annotations

import polars as pl

from tests.job.support import MODEL_A, MODEL_B, MODEL_C, pred1_entry


def live_ids(synthetic_data) -> set[str]:
    return set(pl.read_parquet(synthetic_data / "live.parquet", columns=["id"])["id"])


def assert_nothing_uploaded(fake) -> None:
    assert fake.submissions == []
    assert not any(r.method == "PUT" for r in fake.requests)
    assert not any(
        r.graphql_op in ("submission_upload_auth", "create_submission") for r in fake.requests
    )


def test_one_model_writes_a_csv_of_every_id_without_credentials(job, pred1_models, synthetic_data):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    out = job.tmp_path / "preds.csv"
    result = job.run(
        "--dry-run",
        "--output",
        str(out),
        NUMERAI_MODEL_ID=MODEL_A,
        NUMERAI_PUBLIC_ID=None,
        NUMERAI_SECRET_KEY=None,
    )

    assert result.code == 0, result.output
    frame = pl.read_csv(out)
    assert frame.columns == ["id", "prediction"]
    assert set(frame["id"]) == live_ids(synthetic_data)
    assert frame.height == len(live_ids(synthetic_data))
    assert frame["prediction"].min() > 0 and frame["prediction"].max() <= 1
    line = result.summary("alpha")
    assert line["event"] == "dry_run" and line["output"] == str(out)
    assert_nothing_uploaded(job.fake)


def test_several_models_write_a_directory_of_model_csvs(job, pred1_models, synthetic_data):
    job.register(
        alpha=pred1_entry(MODEL_A, pred1_models["medium"]),
        beta=pred1_entry(MODEL_B, pred1_models["small"], feature_set="small"),
    )
    out = job.tmp_path / "out"
    result = job.run("--output", str(out), NUMERAI_MODEL_ID="all", NUMERAI_DRY_RUN="1")

    assert result.code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["alpha.csv", "beta.csv"]
    for name in ("alpha", "beta"):
        assert set(pl.read_csv(out / f"{name}.csv")["id"]) == live_ids(synthetic_data)
    assert_nothing_uploaded(job.fake)


def test_dry_run_without_output_writes_under_the_data_dir(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_DRY_RUN="true")

    assert result.code == 0, result.output
    assert (job.data_dir / "dry-run" / "842" / "alpha.csv").is_file()
    assert_nothing_uploaded(job.fake)


def test_dry_run_of_a_past_round_uses_that_rounds_data(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run("--dry-run", "--round", "840", NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 0, result.output
    assert (job.data_dir / "v5.3" / "840" / "live.parquet").is_file()
    assert any(r.path.startswith("/files/840/") for r in job.fake.requests)
    assert result.summary("alpha")["round"] == 840


def test_output_that_cannot_be_a_directory_is_exit_2(job, pred1_models):
    job.register(
        alpha=pred1_entry(MODEL_A, pred1_models["medium"]),
        beta=pred1_entry(MODEL_B, pred1_models["medium"]),
    )
    blocker = job.tmp_path / "file.csv"
    blocker.write_text("x")
    result = job.run("--dry-run", "--output", str(blocker), NUMERAI_MODEL_ID="all")

    assert result.code == 2
    assert f"--output {blocker}: cannot create directory" in result.output
    assert job.fake.file_gets("live.parquet") == 0


def test_models_on_the_same_features_predict_as_each_alone(job, pred1_models, tmp_path):
    """Models with the same feature list share the job's converted matrix (gamma uses
    alpha's, beta converts its own); each gets exactly the predictions it gets alone."""
    copy = tmp_path / "copy.cbm"
    copy.write_bytes(pred1_models["medium"].read_bytes())  # another file: nothing else shared
    job.register(
        alpha=pred1_entry(MODEL_A, pred1_models["medium"]),
        gamma=pred1_entry(MODEL_C, copy),
        beta=pred1_entry(MODEL_B, pred1_models["small"], feature_set="small"),
    )
    together = job.run("--dry-run", "--output", str(tmp_path / "together"), NUMERAI_MODEL_ID="all")
    assert together.code == 0, together.output

    for name, model_id in (("alpha", MODEL_A), ("beta", MODEL_B), ("gamma", MODEL_C)):
        alone = job.run(
            "--dry-run", "--output", str(tmp_path / f"{name}.csv"), NUMERAI_MODEL_ID=model_id
        )
        assert alone.code == 0, alone.output
        shared = (tmp_path / "together" / f"{name}.csv").read_bytes()
        assert shared == (tmp_path / f"{name}.csv").read_bytes(), name
    assert (tmp_path / "alpha.csv").read_bytes() == (tmp_path / "gamma.csv").read_bytes()
