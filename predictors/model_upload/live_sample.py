"""A small live-shaped frame for ``diagnose`` to call a pickle with, and where it came from.

Live rows, in this order of preference: the file given (``--live``); the newest round's
``live.parquet`` in the job's dataset cache; rows synthesised from the data version's
``features.json`` (``--features``, else the newest one in the cache), shaped like
Numerai's: ``id`` (``n`` + 15 hex digits), ``era`` ``X``, ``data_type`` ``live``, every
feature int8 in 0..4 with a few nulls, the targets null. The benchmark models
(for a 2-parameter ``predict``): the file given (``--benchmarks``), else
``live_benchmark_models.parquet`` beside the live file, else none — diagnose then passes
a frame of the live ids without columns, and says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from numerai_data.layout import cache_file, latest_round_file

LIVE_FILE = "live.parquet"
FEATURES_FILE = "features.json"
BENCHMARKS_FILE = "live_benchmark_models.parquet"
# Numerai's live era label and data type.
LIVE_ERA = "X"
LIVE_DATA_TYPE = "live"
# Feature values are Numerai's 5 bins; a few are missing, as in Numerai's data.
FEATURE_BINS = 5
MISSING_FRACTION = 0.01
SEED = 0


class NoLiveData(Exception):
    """Nothing to build live rows from (exit 2: the caller must say where they are)."""


@dataclass(frozen=True)
class LiveSample:
    live: pl.DataFrame  # id and every column, at most the rows asked for
    benchmarks: Path | None  # live_benchmark_models.parquet covering those ids, or None
    source: str  # where the rows came from, for the report
    round: int = 0  # the cached round they belong to (0: not a cached round)


def find_sample(
    *,
    live: Path | None,
    benchmarks: Path | None,
    features: Path | None,
    data_dir: Path,
    data_version: str,
    rows: int,
) -> LiveSample:
    for given in (live, benchmarks, features):
        if given is not None and not given.is_file():
            raise NoLiveData(f"{given} is not a file")
    if live is not None:
        frame = read_live(live, rows)
        beside = benchmarks or _existing(live.with_name(BENCHMARKS_FILE))
        return LiveSample(frame, beside, f"{frame.height} rows of {live}")
    cached = latest_round_file(data_dir, data_version, LIVE_FILE)
    if cached is not None and features is None:
        round_num, path = cached
        frame = read_live(path, rows)
        beside = benchmarks or _existing(path.with_name(BENCHMARKS_FILE))
        source = f"{frame.height} rows of {path} (round {round_num} in the dataset cache)"
        return LiveSample(frame, beside, source, round_num)
    features = features or _cached_features(data_dir, data_version)
    if features is None:
        raise NoLiveData(
            f"no live data to call the pickle with: the dataset cache {data_dir} has no "
            f"{data_version} {LIVE_FILE} or {FEATURES_FILE}; pass --live PATH (a "
            f"{LIVE_FILE}) or --features PATH (the {FEATURES_FILE} of the model's data version)"
        )
    frame = synthesise(_read_features(features), rows)
    return LiveSample(frame, benchmarks, f"{rows} rows synthesised from {features}")


def read_live(path: Path, rows: int) -> pl.DataFrame:
    try:
        return pl.read_parquet(path, n_rows=rows)
    except Exception as exc:  # polars raises its own error types for a bad file
        raise NoLiveData(f"{path} is not a readable parquet file ({exc})") from None


def synthesise(features_json: dict[str, Any], rows: int, seed: int = SEED) -> pl.DataFrame:
    """``rows`` live-shaped rows for the feature names of ``features.json``."""
    sets = features_json.get("feature_sets") or {}
    names = sets.get("all") or list(dict.fromkeys(n for s in sets.values() for n in s))
    if not names:
        raise NoLiveData("features.json lists no features (feature_sets is empty)")
    rng = np.random.default_rng(seed)
    ids = [f"n{value:015x}" for value in rng.integers(0, 16**15, rows)]
    values = rng.integers(0, FEATURE_BINS, (rows, len(names)), dtype=np.int8)
    missing = rng.random((rows, len(names))) < MISSING_FRACTION
    columns: dict[str, Any] = {
        "id": ids,
        "era": [LIVE_ERA] * rows,
        "data_type": [LIVE_DATA_TYPE] * rows,
    }
    for i, name in enumerate(names):
        columns[name] = pl.Series(name, values[:, i], dtype=pl.Int8).scatter(
            np.flatnonzero(missing[:, i]), None
        )
    for target in features_json.get("targets") or []:
        columns[target] = pl.Series(target, [None] * rows, dtype=pl.Float32)
    return pl.DataFrame(columns)


def _read_features(path: Path) -> dict[str, Any]:
    try:
        parsed = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise NoLiveData(f"{path} is not a readable features.json ({exc})") from None
    if not isinstance(parsed, dict):
        raise NoLiveData(f"{path} is not a features.json (no feature_sets)")
    return parsed


def _cached_features(data_dir: Path, data_version: str) -> Path | None:
    """The job's copy of the newest round, else a trainer's copy of the data version."""
    cached = latest_round_file(data_dir, data_version, FEATURES_FILE)
    if cached is not None:
        return cached[1]
    return _existing(cache_file(data_dir, data_version, FEATURES_FILE, None))


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None
