"""The synthetic dataset looks like Numerai's and carries a learnable signal."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

from fakes.synthetic import (
    FULL_SIZE,
    STAMP,
    SyntheticSpec,
    feature_metadata,
    feature_names,
    write_dataset,
)

QUARTERS = {0.0, 0.25, 0.5, 0.75, 1.0}


def test_writes_every_numerai_file(synthetic_data: Path) -> None:
    names = {p.name for p in synthetic_data.iterdir() if not p.name.startswith(".")}
    assert names == {
        "live.parquet",
        "train.parquet",
        "validation.parquet",
        "features.json",
        "live_benchmark_models.parquet",
    }


def test_shapes_and_layout(synthetic_data: Path, synthetic_spec: SyntheticSpec) -> None:
    spec = synthetic_spec
    live = pl.read_parquet(synthetic_data / "live.parquet")
    train = pl.read_parquet(synthetic_data / "train.parquet")
    validation = pl.read_parquet(synthetic_data / "validation.parquet")
    targets = feature_metadata(spec)["targets"]
    assert live.columns[:3] == ["id", "era", "data_type"]
    assert live.columns[3:] == [*feature_names(spec), *targets]
    assert live.height == spec.live_rows
    assert train.height == spec.train_eras * spec.rows_per_era
    assert validation.height == (spec.train_eras // 4) * spec.rows_per_era
    assert set(live["era"]) == {"X"} and set(live["data_type"]) == {"live"}
    assert train["era"].unique().sort().to_list() == [f"{e:04d}" for e in range(1, 25)]
    assert set(train["data_type"]) == {"train"}
    assert validation["era"].min() == "0025" and set(validation["data_type"]) == {"validation"}
    all_ids = pl.concat([live["id"], train["id"], validation["id"]])
    assert all_ids.n_unique() == all_ids.len()
    assert all(i.startswith("n") and len(i) == 16 for i in live["id"].to_list())


def test_features_are_int8_in_bins_with_a_few_nulls(synthetic_data: Path) -> None:
    schema = pq.read_schema(synthetic_data / "live.parquet")
    features = [n for n in schema.names if n.startswith("feature_")]
    assert {str(schema.field(n).type) for n in features} == {"int8"}
    assert str(schema.field("id").type) == "string"
    train = pl.read_parquet(synthetic_data / "train.parquet", columns=features)
    values = train.select(pl.all().min()).row(0) + train.select(pl.all().max()).row(0)
    assert min(values) == 0 and max(values) == 4
    null_fraction = train.null_count().sum_horizontal()[0] / (train.height * train.width)
    assert 0.002 < null_fraction < 0.03  # spec: 1 %


def test_targets_are_quarters_and_null_in_live(
    synthetic_data: Path, synthetic_spec: SyntheticSpec
) -> None:
    targets = feature_metadata(synthetic_spec)["targets"]
    assert targets[0] == "target" and all(t.startswith("target_") for t in targets[1:])
    train = pl.read_parquet(synthetic_data / "train.parquet", columns=targets)
    for name in targets:
        assert set(train[name].unique().to_list()) == QUARTERS, name
    counts = train["target"].value_counts().sort("target")["count"].to_list()
    assert counts[2] > counts[1] > counts[0]  # bell-shaped like Numerai's bins
    live = pl.read_parquet(synthetic_data / "live.parquet", columns=targets)
    assert live.null_count().row(0) == (live.height,) * len(targets)


def test_feature_sets_are_nested(synthetic_spec: SyntheticSpec, synthetic_data: Path) -> None:
    meta = json.loads((synthetic_data / "features.json").read_text())
    assert meta == feature_metadata(synthetic_spec)
    sets = meta["feature_sets"]
    assert len(sets["small"]) == synthetic_spec.n_small
    assert len(sets["medium"]) == synthetic_spec.n_medium
    assert sets["all"] == feature_names(synthetic_spec)
    assert set(sets["small"]) < set(sets["medium"]) < set(sets["all"])
    assert sets["small"] != sets["all"][: synthetic_spec.n_small]  # not just the first columns
    assert len(set(sets["all"])) == len(sets["all"])
    assert all(n.startswith("feature_") for n in sets["all"])


def test_pandas_sees_id_as_index_and_polars_as_column(synthetic_data: Path) -> None:
    for name in ("live.parquet", "train.parquet", "live_benchmark_models.parquet"):
        frame = pd.read_parquet(synthetic_data / name)
        assert frame.index.name == "id", name
        assert "id" not in frame.columns
        assert pl.read_parquet(synthetic_data / name).columns[0] == "id"
    live = pd.read_parquet(synthetic_data / "live.parquet", columns=["era"])
    assert live.index.is_unique


def test_benchmark_models_cover_live_ids(synthetic_data: Path) -> None:
    live = pl.read_parquet(synthetic_data / "live.parquet", columns=["id"])
    bench = pl.read_parquet(synthetic_data / "live_benchmark_models.parquet")
    assert bench["id"].to_list() == live["id"].to_list()
    values = bench.drop("id")
    assert "v5_lgbm_ender20" in values.columns
    assert values.null_count().sum_horizontal()[0] == 0
    assert values.min().min_horizontal()[0] > 0 and values.max().max_horizontal()[0] <= 1


def test_target_is_learnable_from_small_features(
    synthetic_data: Path, synthetic_spec: SyntheticSpec
) -> None:
    small = feature_metadata(synthetic_spec)["feature_sets"]["small"]

    def xy(name: str) -> tuple[np.ndarray, np.ndarray]:
        frame = pl.read_parquet(synthetic_data / name, columns=[*small, "target"])
        x = frame.select(small).fill_null(2).to_numpy().astype(float)
        return np.c_[x, np.ones(len(x))], frame["target"].to_numpy()

    x_train, y_train = xy("train.parquet")
    x_valid, y_valid = xy("validation.parquet")
    weights, *_ = np.linalg.lstsq(x_train, y_train, rcond=None)
    corr = np.corrcoef(x_valid @ weights, y_valid)[0, 1]
    assert corr > 0.2  # a learnable signal, not noise (measured ≈ 0.5)
    # ...and it lives in the small set: the non-small features carry nothing.
    others = [n for n in feature_names(synthetic_spec) if n not in small][:6]
    frame = pl.read_parquet(synthetic_data / "validation.parquet", columns=[*others, "target"])
    noise = frame.select(others).fill_null(2).to_numpy().astype(float)
    assert max(abs(np.corrcoef(col, y_valid)[0, 1]) for col in noise.T) < 0.2


def test_same_spec_gives_identical_bytes(tmp_path: Path, synthetic_spec: SyntheticSpec) -> None:
    a = write_dataset(synthetic_spec, tmp_path / "a")
    b = write_dataset(synthetic_spec, tmp_path / "b")
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name
    other = write_dataset(dataclasses.replace(synthetic_spec, seed=1), tmp_path / "c")
    assert other["live.parquet"].read_bytes() != a["live.parquet"].read_bytes()
    assert feature_names(dataclasses.replace(synthetic_spec, seed=1)) != feature_names(
        synthetic_spec
    )


def test_reuses_files_for_the_same_spec_and_rewrites_for_another(tmp_path: Path) -> None:
    spec = SyntheticSpec(live_rows=20, train_eras=2, rows_per_era=10)
    paths = write_dataset(spec, tmp_path)
    before = {name: p.stat().st_mtime_ns for name, p in paths.items()}
    time.sleep(0.01)
    write_dataset(spec, tmp_path)
    assert {name: p.stat().st_mtime_ns for name, p in paths.items()} == before
    # Another spec in the same directory is regenerated, not silently reused.
    write_dataset(dataclasses.replace(spec, live_rows=30), tmp_path)
    assert pl.read_parquet(paths["live.parquet"]).height == 30
    # A missing file is regenerated even though the stamp matches.
    paths["train.parquet"].unlink()
    write_dataset(dataclasses.replace(spec, live_rows=30), tmp_path)
    assert paths["train.parquet"].is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temp leftovers
    assert (tmp_path / STAMP).is_file()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_small": 20, "n_medium": 16}, "n_small <= n_medium <= n_all"),
        ({"n_small": 2}, "n_small must be >= 4"),
        ({"live_rows": 0}, "live_rows must be >= 1"),
        ({"missing_fraction": 1.0}, "missing_fraction"),
    ],
)
def test_bad_spec_is_refused_naming_the_field(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SyntheticSpec(**changes)


@pytest.mark.slow
def test_full_size_generates_quickly(tmp_path: Path) -> None:
    started = time.perf_counter()
    paths = write_dataset(FULL_SIZE, tmp_path)
    elapsed = time.perf_counter() - started
    size_mb = paths["live.parquet"].stat().st_size / 1e6
    print(f"full-size dataset: {elapsed:.1f} s, live.parquet {size_mb:.1f} MB")
    assert elapsed < 30
    live = pq.ParquetFile(paths["live.parquet"]).metadata
    assert (live.num_rows, live.num_columns) == (6720, 3 + 3555 + 5)
    meta = feature_metadata(FULL_SIZE)["feature_sets"]
    assert [len(meta[k]) for k in ("small", "medium", "all")] == [42, 780, 3555]
    assert 5 < size_mb < 30  # Numerai's v5.2 live.parquet: 9.5 MB
