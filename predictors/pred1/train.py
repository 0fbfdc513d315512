"""Train pred1: ``python -m predictors.pred1.train --data-version v5.3 --feature-set medium
--iterations 2000 --output predictors/pred1/model.cbm [--era-stride 4 | --max-eras N]``.

``train.parquet`` and ``features.json`` come through the shared Numerai client and
dataset cache (``numerai_data``), so ``NUMERAI_API_URL`` (the local fake) and
``NUMERAI_DATA_DIR`` apply.
Only ``era``, the feature set and the target are read, and eras are subsampled before
anything is loaded: the real v5.3 train.parquet is 7.7 GB.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from common import jsonlog
from common.contract import API_URL_ENV
from common.retry import RetriesExhausted, RetryPolicy
from numerai_data import DATA_DIR_ENV, DEFAULT_DATA_DIR, DEFAULT_REQUEST_TIMEOUT

if TYPE_CHECKING:
    import numpy as np

# Numerai's example CatBoost/LightGBM scripts use about 2,000 trees of depth 6.
DEFAULT_ITERATIONS = 2000
DEFAULT_DEPTH = 6
DEFAULT_TARGET = "target"
TRAIN_FILE = "train.parquet"
FEATURES_FILE = "features.json"
# Fixed seed: the same data and flags give the same model.
RANDOM_SEED = 0


class TrainError(Exception):
    """The training data could not be had; the message says why (exit 1)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m predictors.pred1.train", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("--data-version", default="v5.3")
    parser.add_argument(
        "--feature-set", default="medium", help="small, medium or all (features.json)"
    )
    parser.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS, help="CatBoost trees")
    parser.add_argument("--depth", type=int, default=DEFAULT_DEPTH)
    parser.add_argument("--learning-rate", type=float, help="default: CatBoost picks one")
    parser.add_argument("--target", default=DEFAULT_TARGET)
    parser.add_argument("--output", type=Path, required=True, help="where to write the .cbm model")
    parser.add_argument(
        "--data-dir", help=f"dataset cache (env {DATA_DIR_ENV}, default {DEFAULT_DATA_DIR})"
    )
    sample = parser.add_mutually_exclusive_group()
    sample.add_argument("--era-stride", type=int, help="keep every K-th era")
    sample.add_argument("--max-eras", type=int, help="keep N eras, evenly spaced")
    return parser


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    retry: RetryPolicy | None = None,
) -> int:
    environ = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("iterations", "depth", "era_stride", "max_eras"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be ≥ 1")
    jsonlog.configure(jsonlog.choose_format(environ.get(jsonlog.LOG_FORMAT_ENV), sys.stdout))
    try:
        features_json, train_path = download(args, environ, retry or RetryPolicy())
    except TrainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sets = features_json.get("feature_sets", {})
    if args.feature_set not in sets:
        parser.error(f"--feature-set {args.feature_set!r}: features.json has {sorted(sets)}")
    features = list(sets[args.feature_set])
    import polars as pl

    if args.target not in pl.read_parquet_schema(train_path):
        parser.error(f"--target {args.target!r} is not a column of {TRAIN_FILE}")
    x, y, eras = load_training_rows(train_path, features, args)
    started = time.perf_counter()
    fit_and_save(x, y, features, args)
    print(
        f"wrote {args.output}: {len(y)} rows from {len(eras)} eras, {len(features)} "
        f"{args.feature_set!r} features, {args.iterations} trees of depth {args.depth} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 0


def download(
    args: argparse.Namespace, environ: Mapping[str, str], retry: RetryPolicy
) -> tuple[dict, Path]:
    """features.json (parsed) and the local path of train.parquet, through the shared
    Numerai client and dataset cache (NUMERAI_API_URL and NUMERAI_DATA_DIR apply)."""
    from numerai_data.cache import DatasetCache, read_json
    from numerai_data.client import NumeraiClient

    client = NumeraiClient(
        api_url=environ.get(API_URL_ENV) or None, timeout=DEFAULT_REQUEST_TIMEOUT
    )
    data_dir = Path(args.data_dir or environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
    cache = DatasetCache(client, data_dir, retry)
    try:
        features_json = read_json(cache.path(args.data_version, FEATURES_FILE, None))
        return features_json, cache.path(args.data_version, TRAIN_FILE, None)
    except (RetriesExhausted, ValueError) as exc:  # NumeraiError is a ValueError
        raise TrainError(f"cannot download {args.data_version} data: {exc}") from None


def load_training_rows(
    train_path: Path, features: list[str], args: argparse.Namespace
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features (float32, null → NaN) and target of the chosen eras; only ``era``, the
    features and the target are read, and eras are chosen before any row is loaded."""
    import polars as pl

    eras = choose_eras(
        pl.read_parquet(train_path, columns=["era"])["era"].unique().sort().to_list(),
        stride=args.era_stride,
        max_eras=args.max_eras,
    )
    frame = (
        pl.scan_parquet(train_path)
        .select(["era", *features, args.target])
        .filter(pl.col("era").is_in(eras) & pl.col(args.target).is_not_null())
        .collect()
    )
    x = frame.select(pl.col(features).cast(pl.Float32)).to_numpy()
    return x, frame[args.target].to_numpy(), eras


def fit_and_save(
    x: np.ndarray, y: np.ndarray, features: list[str], args: argparse.Namespace
) -> None:
    from catboost import CatBoostRegressor, Pool

    model = CatBoostRegressor(
        iterations=args.iterations,
        depth=args.depth,
        learning_rate=args.learning_rate,
        random_seed=RANDOM_SEED,
        allow_writing_files=False,  # no catboost_info/ in the working directory
        verbose=False,
    )
    model.fit(Pool(x, y, feature_names=features))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    model.save_model(str(args.output))


def choose_eras(eras: Sequence[str], *, stride: int | None, max_eras: int | None) -> list[str]:
    """Every ``stride``-th era, or ``max_eras`` evenly spaced ones, or all."""
    if stride:
        return list(eras[::stride])
    if max_eras and max_eras < len(eras):
        step = len(eras) / max_eras
        return [eras[int(i * step)] for i in range(max_eras)]
    return list(eras)


if __name__ == "__main__":
    sys.exit(main())
