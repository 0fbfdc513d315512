"""validate(): every rule Numerai applies, each with its own reason."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from job.validation import InvalidPredictions, to_csv, validate

IDS = pl.Series("id", ["n1", "n2", "n3", "n4"])


def test_valid_predictions_become_an_id_prediction_csv():
    csv = to_csv(validate(IDS, np.array([0.0, 0.25, 0.5, 1.0])))

    assert csv.decode().splitlines() == ["id,prediction", "n1,0.0", "n2,0.25", "n3,0.5", "n4,1.0"]


@pytest.mark.parametrize(
    ("ids", "values", "reason"),
    [
        (IDS, [0.1, 0.2, np.inf, 0.4], "1 predictions are NaN or infinite (first at id n3)"),
        (IDS, [0.1, np.nan, 0.3, np.nan], "2 predictions are NaN or infinite (first at id n2)"),
        (IDS, [-0.1, 0.2, 0.3, 0.4], "must lie in [0, 1], got min -0.1, max 0.4"),
        (IDS, [0.7, 0.7, 0.7, 0.7], "all predictions are 0.7"),
        (IDS, [0.1, 0.2, 0.3], "got 3 predictions for 4 live ids"),
        (IDS, [[0.1], [0.2], [0.3], [0.4]], "one value per row, got shape (4, 1)"),
        (IDS, ["a", "b", "c", "d"], "predictions are not numbers"),
        (IDS, None, "one value per row, got shape ()"),
        (pl.Series("id", ["n1", "n1"]), [0.1, 0.2], "live data repeats 1 id(s)"),
        (pl.Series("id", ["n1", None]), [0.1, 0.2], "1 rows without an id"),
        (pl.Series("id", [], dtype=pl.String), [], "live data has no rows"),
    ],
)
def test_invalid_predictions_are_refused_with_the_reason(ids, values, reason):
    with pytest.raises(InvalidPredictions) as info:
        validate(ids, values)
    assert reason in str(info.value)
