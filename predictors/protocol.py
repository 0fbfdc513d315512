"""The predictor plugin contract.

A predictor owns only the model. The job owns data, validation and submission.

Each plugin is a package ``predictors/<name>/`` whose ``predictor.py`` exposes

    def create(**options) -> Predictor

called with the registry entry's ``[models.<name>.options]`` table (an unknown option
is a TypeError, which the job reports as a configuration error for that model).

The package's ``__init__.py`` may declare ``USES_PYARROW = False`` when neither the
plugin nor any library it calls needs pyarrow (directly or through pandas). When every
model of a job task is such a plugin, the job keeps pyarrow out of the process (pandas
then runs as where pyarrow is not installed), which saves ~60 MiB of memory. Undeclared,
pyarrow loads as usual.

It may also declare ``PARALLEL_SAFE = True`` when several of its models can predict at
the same time in one process, each in its own thread (no shared mutable state, and a
predict's memory small: e.g. one block of ``feature_blocks`` at a time). A job task whose
models all declare it runs them at once, one per CPU, each with ``context.threads`` CPU
threads; otherwise one after another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:  # only for annotations: importing predictors must stay cheap
    import numpy as np
    import polars as pl

T = TypeVar("T")

# Module attributes a plugin package may declare (see above).
PYARROW_DECLARATION = "USES_PYARROW"  # = False: needs no pyarrow
PARALLEL_DECLARATION = "PARALLEL_SAFE"  # = True: models may predict at the same time


class PredictorError(Exception):
    """The plugin is missing, broken, refused its options, or cannot do what it was asked;
    the message says which. The job reports the message as the model's reason as it is
    (without a traceback): raise it (or a subclass) for failures you have explained."""


# The parsed features.json of a data version:
# {"feature_sets": {"small": [...], "medium": [...], "all": [...]}, "targets": [...]}
FeatureMetadata = Mapping[str, Any]


class PredictContext(Protocol):
    """What the job lends a predictor while it predicts."""

    round: int
    data_version: str
    #: CPU threads this predict may use (e.g. CatBoost's ``thread_count``): the task's
    #: CPUs divided among the models predicting at the same time.
    threads: int

    def dataset(self, filename: str) -> Path:
        """Local path of another file of this round's data (e.g. ``live_benchmark_models.parquet``),
        downloaded through the job's cache on first use."""
        ...

    def feature_blocks(
        self, columns: Sequence[str], rows: int, prepare: Callable[[np.ndarray], T] | None = None
    ) -> Iterator[np.ndarray] | Iterator[T]:
        """``columns`` of the live frame as Fortran-ordered float32 matrices of at most
        ``rows`` rows each, top to bottom, nulls as NaN: the layout tree libraries read
        fastest. The job converts the frame once per column list and shares it between
        the models of an execution, so this is cheaper than converting ``live`` yourself.
        Each block is a fresh array.

        With ``prepare`` (e.g. ``catboost.Pool``), each block comes as ``prepare(block)``:
        the job computes those once for all the models of the execution that ask with
        the same columns, ``rows`` and ``prepare``, and hands every one of them the same
        objects, so treat them as read-only."""
        ...


@runtime_checkable
class Predictor(Protocol):
    #: Numerai data version the model was trained on, e.g. "v5.3".
    data_version: str

    def columns(self, features: FeatureMetadata) -> Sequence[str] | None:
        """The live.parquet columns to load besides ``id``; ``None`` means every column."""
        ...

    def predict(self, live: pl.DataFrame, context: PredictContext) -> np.ndarray:
        """One float in [0, 1] per row of ``live``, in the same order.

        ``live`` holds ``id`` and the requested columns (int8 features, nulls possible).
        What ``check_predictions`` accepts is what the job submits.
        """
        ...


class InvalidPredictions(Exception):
    """Predictions Numerai would refuse; the message says why."""


def check_predictions(predictions: Any, ids: Sequence[Any]) -> np.ndarray:
    """The predictions as float64, one per id, or InvalidPredictions saying what is wrong.

    What Numerai accepts: numbers, one per live id, none NaN or infinite, all in [0, 1],
    not all equal. The job checks every submission with this before uploading it, and
    ``python -m predictors.model_upload.diagnose`` checks a pickle's output with it, so
    a pickle diagnose passes is one the job submits.
    """
    import numpy as np

    n = len(ids)
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
    return values
