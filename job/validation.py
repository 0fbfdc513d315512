"""Checks a submission must pass before it is uploaded (or written in a dry run).

What Numerai accepts: columns exactly ``id, prediction``; every live id exactly once;
no NaN/inf; values in [0, 1]; not constant. The ids come from live data and the CSV is
built here, so a predictor can only get the values wrong, and each check says how. The
value checks are ``predictors.protocol.check_predictions``, shared with the
Model-Upload ``diagnose`` command.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from job.live import ID_COLUMN
from predictors.protocol import InvalidPredictions, check_predictions

__all__ = ["InvalidPredictions", "to_csv", "validate"]

PREDICTION_COLUMN = "prediction"


def validate(ids: pl.Series, predictions: Any) -> pl.DataFrame:
    """Return the ``id, prediction`` frame to submit, or raise InvalidPredictions."""
    n = len(ids)
    if n == 0:
        raise InvalidPredictions("live data has no rows")
    if ids.null_count():
        raise InvalidPredictions(f"live data has {ids.null_count()} rows without an id")
    if ids.n_unique() != n:
        raise InvalidPredictions(f"live data repeats {n - ids.n_unique()} id(s)")
    values = check_predictions(predictions, ids)
    return pl.DataFrame({ID_COLUMN: ids, PREDICTION_COLUMN: values})


def to_csv(frame: pl.DataFrame) -> bytes:
    """The bytes Numerai receives: header ``id,prediction``, one row per live id."""
    return frame.write_csv().encode()
