"""pred1: a CatBoost regressor over one Numerai feature set.

Registry options: ``model_path`` (a ``.cbm`` written by ``python -m predictors.pred1.train``),
``feature_set`` (default ``medium``), ``data_version`` (default ``v5.3``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from predictors.protocol import FeatureMetadata, PredictContext

DEFAULT_FEATURE_SET = "medium"
DEFAULT_DATA_VERSION = "v5.3"
# Rows converted to float32 and predicted at a time: at 3,555 features a block is 14 MB
# (plus CatBoost's working copy), so memory stays bounded whatever the live size; 7 calls
# cover a 6,720-row round. Bigger blocks save CatBoost's per-call setup (~5 ms at 3,555
# features) but cost memory: 2,240-row blocks measured +45 MiB of peak RSS at full size.
PREDICT_CHUNK_ROWS = 1_000
# Stands for a null feature in the int8 matrix when predicting outside the job (no
# context): the int8 minimum, while Numerai's features are 0..4. Turned into NaN
# (CatBoost's missing value) per block.
MISSING = -128


class Pred1:
    def __init__(
        self,
        model,
        model_path: Path,
        feature_set: str,
        data_version: str,
        chunk_rows: int = PREDICT_CHUNK_ROWS,
    ):
        self.model = model
        self.chunk_rows = chunk_rows
        self.model_path = model_path
        self.feature_set = feature_set
        self.data_version = data_version
        self.features: list[str] = list(model.feature_names_)

    def columns(self, features: FeatureMetadata) -> Sequence[str]:
        """The model's features, after checking they are the declared feature set."""
        sets = features.get("feature_sets") or {}
        if self.feature_set not in sets:
            raise ValueError(
                f"features.json of {self.data_version} has no feature set {self.feature_set!r} "
                f"(it has {sorted(sets)})"
            )
        expected = set(sets[self.feature_set])
        mine = set(self.features)
        if mine != expected:
            extra, missing = sorted(mine - expected), sorted(expected - mine)
            raise ValueError(
                f"model {self.model_path} does not match feature set {self.feature_set!r} of "
                f"{self.data_version}: {len(extra)} model feature(s) not in the set {extra[:3]}, "
                f"{len(missing)} set feature(s) not in the model {missing[:3]}"
            )
        return self.features

    def predict(self, live: pl.DataFrame, context: PredictContext | None) -> np.ndarray:
        # Fortran-ordered float32 blocks: CatBoost reads features column by column and
        # would transpose C-ordered rows first (measured: up to twice the predict time).
        # In the job, the conversion and CatBoost's Pools over the blocks (~4 ms each at
        # 3,555 features) are made once for every model using the same features.
        if context is None:
            blocks = feature_blocks(live, self.features, self.chunk_rows)
            threads = -1  # CatBoost's default: every CPU
        else:
            from catboost import Pool

            blocks = context.feature_blocks(self.features, self.chunk_rows, prepare=Pool)
            threads = context.threads
        raw = np.empty(live.height, dtype=np.float64)
        done = 0
        for block in blocks:  # numpy arrays or CatBoost Pools, predicted alike
            rows = block.shape[0]
            raw[done : done + rows] = self.model.predict(block, thread_count=threads)
            done += rows
            del block  # before the next one is made: one block in memory, not two
        if done != live.height:
            raise ValueError(f"feature blocks held {done} rows, live data {live.height}")
        return rank_unit(raw)


def feature_blocks(live: pl.DataFrame, features: Sequence[str], rows: int) -> Iterator[np.ndarray]:
    """What ``PredictContext.feature_blocks`` gives, for use without the job (a notebook):
    one int8 conversion of the whole frame (24 MB at full size; polars pays a per-column
    cost on every conversion, so not per block), then float32 row blocks."""
    values = live.select(pl.col(features).fill_null(MISSING)).to_numpy(order="fortran")
    for start in range(0, len(values), rows):
        part = values[start : start + rows]
        block = part.astype(np.float32, order="F")
        block[part == MISSING] = np.nan
        yield block
        del block  # before the next one is made


def rank_unit(values: np.ndarray) -> np.ndarray:
    """Average ranks scaled into (0, 1], as Numerai's example scripts submit."""
    return pl.Series(values).rank("average").to_numpy() / len(values)


def create(
    model_path: str,
    feature_set: str = DEFAULT_FEATURE_SET,
    data_version: str = DEFAULT_DATA_VERSION,
) -> Pred1:
    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} not found (option model_path)")
    from catboost import CatBoostRegressor

    model = CatBoostRegressor()
    try:
        model.load_model(str(path))
    except Exception as exc:  # catboost raises CatBoostError for any unreadable file
        raise ValueError(f"model file {path} is not a CatBoost model: {exc}") from None
    return Pred1(model, path, feature_set, data_version)
