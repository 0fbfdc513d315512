"""Real cloudpickle files for the tests, made the way Numerai users make them.

The functions are built inside factories, so cloudpickle pickles them *by value* (as it
does for a notebook's ``predict``), never as a reference to this test package; ``write``
checks that. The broken pickles are made honestly: a class from a module that is then
taken away, a file cut short, code objects in the layout cloudpickle writes on Python 3.10.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import types
from collections import ChainMap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import cloudpickle
import numpy as np
import pandas as pd

from predictors.model_upload.pickle_facts import inspect_pickle

VANISHED_MODULE = "numerai_vanished_lib"


def write(path: Path, fn: Any) -> Path:
    data = cloudpickle.dumps(fn)
    assert "tests" not in inspect_pickle(data).modules, "pickled by reference, not by value"
    path.write_bytes(data)
    return path


def feature_mean(feature_prefix: str = "feature_") -> Callable[[pd.DataFrame], pd.DataFrame]:
    """predict(live_features): the mean of the features, ranked — a one-argument upload."""

    def predict(live_features: pd.DataFrame) -> pd.DataFrame:
        features = live_features.loc[:, live_features.columns.str.startswith(feature_prefix)]
        score = features.fillna(2).mean(axis=1).rank(pct=True)
        return score.to_frame("prediction")

    return predict


def benchmark_blend(column: str) -> Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]:
    """predict(live_features, live_benchmark_models): one benchmark model's predictions."""

    def predict(live_features: pd.DataFrame, live_benchmark_models: pd.DataFrame) -> pd.DataFrame:
        blend = live_benchmark_models.loc[live_features.index, column].rank(pct=True)
        return blend.to_frame("prediction")

    return predict


def closure_model(columns: list[str], seed: int = 7) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A lambda closing over trained weights, as cloudpickle users write them."""
    weights = np.random.default_rng(seed).normal(size=len(columns))
    return lambda live: (live[columns].fillna(2) @ weights).rank(pct=True).to_frame("prediction")


def series_model() -> Callable[[pd.DataFrame], pd.Series]:
    def predict(live_features: pd.DataFrame) -> pd.Series:
        return live_features.filter(like="feature_").fillna(2).sum(axis=1).rank(pct=True)

    return predict


def range_index_model() -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Forgets the ids: a 0..n-1 index, which Numerai cannot map to live ids."""

    def predict(live_features: pd.DataFrame) -> pd.DataFrame:
        values = np.linspace(0.01, 1.0, len(live_features))
        return pd.DataFrame({"prediction": values})

    return predict


def raising_model() -> Callable[[pd.DataFrame], pd.DataFrame]:
    def predict(live_features: pd.DataFrame) -> pd.DataFrame:
        return user_helper_that_divides(len(live_features))

    def user_helper_that_divides(n: int) -> pd.DataFrame:
        return n / 0  # the user's bug

    return predict


def nan_model() -> Callable[[pd.DataFrame], pd.DataFrame]:
    def predict(live_features: pd.DataFrame) -> pd.DataFrame:
        values = np.linspace(0.01, 1.0, len(live_features))
        values[5] = np.nan
        return pd.DataFrame({"prediction": values}, index=live_features.index)

    return predict


def out_of_range_model() -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Raw scores, not ranks: values above 1 (Numerai's runner refuses them too)."""

    def predict(live_features: pd.DataFrame) -> pd.DataFrame:
        values = np.linspace(0.5, 2.0, len(live_features))
        return pd.DataFrame({"prediction": values}, index=live_features.index)

    return predict


def constant_model() -> Callable[[pd.DataFrame], pd.DataFrame]:
    def predict(live_features: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"prediction": 0.5}, index=live_features.index)

    return predict


def lazy_import_model(module: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Imports a library inside predict (as a torch user might): loading needs nothing."""

    def predict(live_features: pd.DataFrame) -> pd.DataFrame:
        importlib.import_module(module)
        return live_features.filter(like="feature_").fillna(2).mean(axis=1).to_frame("prediction")

    return predict


def recorder(out_dir: Path) -> Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]:
    """Saves what it was given (to compare with what Numerai would give), then predicts."""

    def predict(live_features: pd.DataFrame, live_benchmark_models: pd.DataFrame) -> pd.DataFrame:
        live_features.to_pickle(out_dir / "live_features.pkl")
        live_benchmark_models.to_pickle(out_dir / "live_benchmark_models.pkl")
        return live_benchmark_models.iloc[:, :1].rank(pct=True)

    return predict


@contextmanager
def temporary_module(tmp_path: Path, name: str, source: str) -> Iterator[types.ModuleType]:
    """``name`` importable from a temporary directory until the block ends."""
    folder = tmp_path / f"modules-{name}"
    folder.mkdir()
    (folder / f"{name}.py").write_text(source)
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(name, None)
        shutil.rmtree(folder)
        importlib.invalidate_caches()


SCALER_SOURCE = """
class Scaler:
    def __init__(self, factor):
        self.factor = factor
"""


def vanished_module_pickle(tmp_path: Path, path: Path) -> Path:
    """A predict closing over an object whose class lives in a module this image lacks.

    cloudpickle pickles instances of importable classes by reference, exactly as it
    does for a lightgbm model: loading needs the module.
    """
    with temporary_module(tmp_path, VANISHED_MODULE, SCALER_SOURCE) as module:
        scaler = module.Scaler(0.5)

        def predict(live_features: pd.DataFrame) -> pd.DataFrame:
            score = live_features.filter(like="feature_").fillna(2).mean(axis=1) * scaler.factor
            return score.rank(pct=True).to_frame("prediction")

        data = cloudpickle.dumps(predict)
    assert VANISHED_MODULE in inspect_pickle(data).modules
    path.write_bytes(data)
    return path


def _code_reduce_python310(code: types.CodeType) -> tuple[Any, tuple[Any, ...]]:
    """The 16 fields cloudpickle writes for a code object on Python 3.10."""
    return types.CodeType, (
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        code.co_nlocals,
        code.co_stacksize,
        code.co_flags,
        code.co_code,
        code.co_consts,
        code.co_names,
        code.co_varnames,
        "<dynamic-code>",
        code.co_name,
        code.co_firstlineno,
        code.co_linetable,
        code.co_freevars,
        code.co_cellvars,
    )


class Python310Pickler(cloudpickle.Pickler):
    dispatch_table: ClassVar[ChainMap] = ChainMap(
        {types.CodeType: _code_reduce_python310}, cloudpickle.Pickler.dispatch_table
    )


def python310_pickle(path: Path) -> Path:
    with path.open("wb") as fh:
        Python310Pickler(fh).dump(feature_mean())
    assert inspect_pickle(path.read_bytes()).code_fields == (16,)
    return path
