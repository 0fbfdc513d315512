"""Checks a submission must pass before it is uploaded (or written in a dry run).

What Numerai accepts: columns exactly ``id, prediction``; every live id exactly once;
no NaN/inf; values in [0, 1]; not constant. The ids come from live data and the CSV is
built here, so a predictor can only get the values wrong, and each check says how.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from job.live import ID_COLUMN

PREDICTION_COLUMN = "prediction"


class InvalidPredictions(Exception):
    """The predictor's output cannot be submitted; the message says why."""


def validate(ids: pl.Series, predictions: Any) -> pl.DataFrame:
    """Return the ``id, prediction`` frame to submit, or raise InvalidPredictions."""
    n = len(ids)
    if n == 0:
        raise InvalidPredictions("live data has no rows")
    if ids.null_count():
        raise InvalidPredictions(f"live data has {ids.null_count()} rows without an id")
    if ids.n_unique() != n:
        raise InvalidPredictions(f"live data repeats {n - ids.n_unique()} id(s)")
    try:
        values = np.asarray(predictions, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidPredictions(f"predictions are not numbers ({exc})") from None
    if values.ndim != 1:
        raise InvalidPredictions(f"predictions must be one value per row, got shape {values.shape}")
    if len(values) != n:
        raise InvalidPredictions(f"got {len(values)} predictions for {n} live ids")
    bad = ~np.isfinite(values)
    if bad.any():
        first = ids[int(np.argmax(bad))]
        raise InvalidPredictions(
            f"{int(bad.sum())} predictions are NaN or infinite (first at id {first})"
        )
    low, high = float(values.min()), float(values.max())
    if low < 0.0 or high > 1.0:
        raise InvalidPredictions(
            f"predictions must lie in [0, 1], got min {low:.6g}, max {high:.6g}"
        )
    if low == high:
        raise InvalidPredictions(
            f"all predictions are {low:.6g}; Numerai rejects constant predictions"
        )
    return pl.DataFrame({ID_COLUMN: ids, PREDICTION_COLUMN: values})


def to_csv(frame: pl.DataFrame) -> bytes:
    """The bytes Numerai receives: header ``id,prediction``, one row per live id."""
    return frame.write_csv().encode()
