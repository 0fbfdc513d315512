"""model_upload: run a Numerai Model-Upload pickle unchanged.

Numerai's hosted Model Uploads (numerai-predict's ``predict.py``) load a cloudpickled
function with ``pandas.read_pickle``, read ``live.parquet`` with ``pandas.read_parquet``
(index ``id``, every column: ``era``, ``data_type``, features, targets), call it with
those live features — and ``live_benchmark_models.parquet`` aligned to the same ids when
it takes two parameters — once per era, and take the returned DataFrame's predictions
indexed by id. This predictor does the same inside the job, so the job's validation,
submission, retries and logs apply to it like to any other model.

Registry options: ``pickle_path`` (a local path; a Cloud Storage bucket mounted into
the Cloud Run job is a local path too), ``data_version`` (default ``v5.3``).

Only load pickles you trust: unpickling runs code.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from predictors.model_upload.pickle_facts import explain_call_failure, explain_load_failure
from predictors.protocol import FeatureMetadata, PredictContext, PredictorError

DEFAULT_DATA_VERSION = "v5.3"
BENCHMARKS_FILE = "live_benchmark_models.parquet"
ID_COLUMN = "id"
ERA_COLUMN = "era"
PREDICTION_COLUMN = "prediction"
# The errors on which pandas.read_pickle retries with its compatibility unpickler.
_PANDAS_RETRIES = (AttributeError, ImportError, TypeError, ValueError)
# Ids quoted in a reason; enough to recognise the pattern, short enough for one line.
IDS_SHOWN = 3


class ModelUploadError(PredictorError):
    """The pickle cannot be loaded or called, or its output is not predictions by id.

    A PredictorError, so the job reports the message as the model's reason as it is.
    """


class ModelUpload:
    def __init__(self, fn: Callable[..., Any], pickle_path: Path, data_version: str, arity: int):
        self.fn = fn
        self.pickle_path = pickle_path
        self.data_version = data_version
        self.arity = arity  # 1: predict(live_features); 2: …, live_benchmark_models

    def columns(self, features: FeatureMetadata) -> None:
        return None  # Numerai hands the function every column of live.parquet

    def predict(self, live: pl.DataFrame, context: PredictContext) -> np.ndarray:
        features = live_features(live)
        benchmarks = None
        if self.arity == 2:
            benchmarks = pd.read_parquet(context.dataset(BENCHMARKS_FILE))
            missing = features.index.difference(benchmarks.index)
            if len(missing):
                raise ModelUploadError(
                    f"{BENCHMARKS_FILE} has no row for {len(missing)} of {len(features)} live "
                    f"ids (first: {', '.join(map(str, missing[:IDS_SHOWN]))})"
                )
        parts = []
        for part in _era_groups(features):
            era_benchmarks = None if benchmarks is None else benchmarks.loc[part.index]
            parts.append(self._prediction_series(self._call(part, era_benchmarks)))
        series = parts[0] if len(parts) == 1 else pd.concat(parts)
        return self._aligned(series, features.index)

    def _call(self, part: pd.DataFrame, benchmarks: pd.DataFrame | None) -> Any:
        """The pickled function on one era. A failure for want of a package (a module
        imported inside the function, scikit-learn for lightgbm's scikit-learn API …)
        becomes a ModelUploadError naming the package; any other error is the user's and
        propagates with its traceback."""
        try:
            return self.fn(part) if benchmarks is None else self.fn(part, benchmarks)
        except Exception as exc:
            reason = explain_call_failure(self.pickle_path, exc)
            if reason is None:
                raise
            raise ModelUploadError(reason) from exc

    def _prediction_series(self, output: Any) -> pd.Series:
        what = f"the pickled predict() of {self.pickle_path.name}"
        if isinstance(output, pd.Series):
            return output
        if isinstance(output, pd.DataFrame):
            columns = list(output.columns)
            if columns.count(PREDICTION_COLUMN) == 1:
                return output[PREDICTION_COLUMN]
            if len(columns) == 1:
                return output.iloc[:, 0]
            raise ModelUploadError(
                f"{what} returned a DataFrame with columns {columns[:5]}: expected one "
                f"{PREDICTION_COLUMN!r} column (or a single column) indexed by id"
            )
        raise ModelUploadError(
            f"{what} returned {type(output).__name__}, not a pandas DataFrame with a "
            f"{PREDICTION_COLUMN!r} column indexed by id (what Numerai's Model Uploads expect)"
        )

    def _aligned(self, series: pd.Series, ids: pd.Index) -> np.ndarray:
        """The values in the order of ``ids``, after checking the index is exactly them."""
        what = f"the pickled predict() of {self.pickle_path.name}"
        index = series.index
        if index.has_duplicates:
            repeated = index[index.duplicated()].unique()
            raise ModelUploadError(
                f"{what} returned {len(repeated)} id(s) more than once "
                f"(first: {', '.join(map(str, repeated[:IDS_SHOWN]))})"
            )
        extra = index.difference(ids)
        missing = ids.difference(index)
        if len(extra) or len(missing):
            hint = ""
            if isinstance(index, pd.RangeIndex) or len(extra) == len(index):
                hint = f"; index the result by live_features.index (the {ID_COLUMN!r} values)"
            raise ModelUploadError(
                f"{what} returned {len(index)} predictions whose index does not match the "
                f"{len(ids)} live ids: {len(extra)} unknown id(s) "
                f"(first: {', '.join(map(str, extra[:IDS_SHOWN])) or '-'}), {len(missing)} live "
                f"id(s) without a prediction (first: "
                f"{', '.join(map(str, missing[:IDS_SHOWN])) or '-'}){hint}"
            )
        # Numbers or not, NaN or not, in range or not: the job's validation says.
        return series.reindex(ids).to_numpy()


def live_features(live: pl.DataFrame) -> pd.DataFrame:
    """The live frame as Numerai's ``pandas.read_parquet(live.parquet)`` gives it.

    polars → Arrow shares the buffers; Arrow → pandas is the one conversion
    ``read_parquet`` makes too (same dtypes: int8 features, float64 where nulls are).
    ``id`` becomes the index without another copy of the table.
    """
    table = live.to_arrow()
    ids = table.column(ID_COLUMN).to_pandas()
    frame = table.drop_columns([ID_COLUMN]).to_pandas()
    frame.index = pd.Index(ids, name=ID_COLUMN)
    return frame


def _era_groups(features: pd.DataFrame) -> list[pd.DataFrame]:
    """numerai-predict calls the function once per era; live data has one era."""
    if ERA_COLUMN not in features.columns or features[ERA_COLUMN].nunique(dropna=False) <= 1:
        return [features]
    return [group for _era, group in features.groupby(ERA_COLUMN, sort=True, dropna=False)]


def call_arity(fn: Any, path: Path) -> int:
    """1 or 2: how many DataFrames to pass, read from the function's signature.

    Numerai passes 2 when ``len(signature(fn).parameters) == 2`` and 1 when it is 1.
    Here the same, sensibly extended: a second positional parameter with a default, or
    ``*args`` after the first, still gets the benchmarks; ``**kwargs`` and defaulted
    keyword-only parameters are ignored; more than two required ones is an error.
    """
    if not callable(fn):
        raise ModelUploadError(
            f"pickle {path} holds a {type(fn).__module__}.{type(fn).__qualname__}, not a "
            "function: Model Uploads pickle a predict(live_features[, live_benchmark_models])"
        )
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return 1  # no readable signature (a builtin): called with the live features only
    positional = [
        p
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    var_positional = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    keyword_required = [
        p.name
        for p in parameters
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
    ]
    signature = f"predict{inspect.signature(fn)}"
    if keyword_required:
        raise ModelUploadError(
            f"pickle {path}: {signature} requires keyword argument(s) {keyword_required}; "
            "Numerai passes only live_features[, live_benchmark_models]"
        )
    if len(required) > 2:
        raise ModelUploadError(
            f"pickle {path}: {signature} requires {len(required)} arguments; Numerai passes "
            "1 (live_features) or 2 (live_features, live_benchmark_models)"
        )
    if len(positional) >= 2 or (len(positional) == 1 and var_positional):
        return 2
    if positional or var_positional:
        return 1
    raise ModelUploadError(
        f"pickle {path}: {signature} takes no positional argument; Numerai passes "
        "live_features[, live_benchmark_models]"
    )


def load(path: Path) -> Any:
    """``pandas.read_pickle``, as numerai-predict loads it; failures explained."""
    try:
        return pd.read_pickle(path)  # noqa: S301 - the pickle is the model: running it is the point
    except Exception as exc:  # unpickling can raise anything; each is explained
        raise ModelUploadError(
            explain_load_failure(path, path.read_bytes(), _first_error(exc))
        ) from None


def _first_error(exc: Exception) -> Exception:
    """The plain ``pickle.load`` error, not the one of pandas' retry.

    ``read_pickle`` retries with pandas' compatibility unpickler on these errors and
    raises the retry's error (e.g. "issubclass() arg 1 must be a class"), with the
    original one as its ``__context__``.
    """
    context = exc.__context__
    if isinstance(exc, _PANDAS_RETRIES) and isinstance(context, _PANDAS_RETRIES):
        return context
    return exc


def create(pickle_path: str, data_version: str = DEFAULT_DATA_VERSION) -> ModelUpload:
    path = Path(pickle_path)
    if not path.is_file():
        raise FileNotFoundError(f"pickle file {path} not found (option pickle_path)")
    fn = load(path)
    return ModelUpload(fn, path, data_version, call_arity(fn, path))
