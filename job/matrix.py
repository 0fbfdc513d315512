"""Live features as one column-major matrix, converted once and lent to every model.

Tree libraries (CatBoost, LightGBM, XGBoost) read features column by column: handed
C-ordered rows, CatBoost transposes them into its columnar layout first. Measured on the
full-size round with a 2,000-tree model, 6,720 rows: 40 ms per predict from Fortran-ordered
float32 blocks against 77 ms from C-ordered ones on the 780-feature set; 196 against
313 ms on all 3,555 features. The polars → numpy conversion is paid once per live frame
and column list (``LiveLoader.matrix``), not once per model.

Storage is int8 when every column is (Numerai's features are int8 in 0..4): 24 MB at
6,720 × 3,555 instead of 95 MB as float32, nulls held as ``MISSING``. ``blocks`` hands out
float32 row blocks with NaN for nulls, one at a time, so a predictor's working copy stays
one block whatever the number of rows. Any other numeric column (or an int8 column that
itself holds ``MISSING``) makes the whole matrix float32.

``prepared`` hands out the blocks turned into a library's own objects (``prepare``, e.g.
``catboost.Pool``). Measured at full size on all 3,555 features, one thread, 1,000-row
blocks: a model predicting from Pools of its own costs 0.22 s of CPU, from Pools another
model made 0.13 s (the float32 conversion, 0.045 s, and CatBoost's set-up of each Pool,
~4 ms whatever its rows, are paid once). Kept (all blocks at once: 95 MB of float32 at
full size, which the Pools reference) while another model of the task may ask for the
same ones; otherwise they stream, one block at a time. Kept blocks are built as they are
first needed, each by one model; a model that would wait for a block another is building
builds the next one instead, so models starting together build them side by side.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import polars as pl

# Stands for a null in the int8 matrix: the int8 minimum, while Numerai's features are
# 0..4. Turned into NaN (the missing value of every tree library) block by block.
MISSING = -128
# Columns converted per polars call: fill_null copies the columns that have nulls, so the
# transient copy stays at most 512 columns (3.4 MB at 6,720 rows) instead of the whole
# frame (measured peak +35 MiB against +60 MiB for 3,555 columns at once).
CONVERT_COLUMNS = 512


class MatrixError(ValueError):
    """The columns cannot form a numeric matrix (the message names the column)."""


class FeatureMatrix:
    def __init__(self, values: np.ndarray, columns: Sequence[str], *, nulls: int):
        self.values = values  # (rows, columns), Fortran order, int8 or float32
        self.columns = tuple(columns)
        self.nulls = nulls  # how many cells are null
        # int8 storage holds MISSING for nulls (float32 holds NaN already)
        self.has_missing = values.dtype == np.int8 and nulls > 0
        # (rows, prepare) → the prepared blocks, one list at a time
        self._prepared: dict[tuple[int, Callable[[np.ndarray], Any]], list[Any]] = {}
        self._prepared_lock = threading.Lock()

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, columns: Sequence[str]) -> FeatureMatrix:
        # Series by name, not frame.select(columns): polars builds one expression per
        # column there (15 ms for 3,555 columns, here 3 ms).
        by_name = dict(zip(frame.columns, frame.get_columns(), strict=True))
        absent = [name for name in columns if name not in by_name]
        if absent:
            raise MatrixError(f"no column {absent[0]!r} in the frame")
        series = [by_name[name] for name in columns]
        for column in series:
            if not (column.dtype.is_numeric() or column.dtype == pl.Boolean):
                raise MatrixError(f"column {column.name!r} is {column.dtype}, not a number")
        int8 = all(column.dtype == pl.Int8 for column in series)
        nulls = sum(column.null_count() for column in series)
        values = _convert(series, frame.height, int8=int8)
        # A column that holds MISSING as a value makes it ambiguous: count the stand-ins
        # (7 ms at full size; a polars min() per column costs 22 ms).
        if int8 and nulls and np.count_nonzero(values == MISSING) != nulls:
            del values  # before the float32 copy: never both at once
            values = _convert(series, frame.height, int8=False)
        return cls(values, columns, nulls=nulls)

    def blocks(self, rows: int) -> Iterator[np.ndarray]:
        """Fortran-ordered float32 blocks of at most ``rows`` rows, top to bottom, nulls as
        NaN. Each block is a fresh array: the caller may change it."""
        _check_rows(rows)
        for start in range(0, len(self.values), rows):
            block = self._block(start, rows)
            yield block
            # Drop this block before making the next, so that (when the caller lets go of
            # it too) one block's memory serves them all.
            del block

    def _block(self, start: int, rows: int) -> np.ndarray:
        part = self.values[start : start + rows]
        block = part.astype(np.float32, order="F")
        if self.has_missing:
            block[part == MISSING] = np.nan
        return block

    def prepared(
        self, rows: int, prepare: Callable[[np.ndarray], Any], *, keep: bool
    ) -> Iterator[Any]:
        """``prepare(block)`` for each of ``blocks(rows)``. Built once and shared when
        already kept for these ``rows`` and ``prepare``, or when ``keep`` (another model
        will ask)."""
        _check_rows(rows)
        key = (rows, prepare)
        with self._prepared_lock:
            kept = self._prepared.get(key)
            if kept is None and keep:
                self._prepared = {}  # release the previous blocks before building others
                kept = self._prepared[key] = _Kept(self, rows, prepare)
        if kept is not None:
            return iter(kept)
        return self._stream(rows, prepare)

    def _stream(self, rows: int, prepare: Callable[[np.ndarray], Any]) -> Iterator[Any]:
        for block in self.blocks(rows):
            item = prepare(block)
            del block  # the item holds what it needs; then one block's memory serves all
            yield item
            del item


def _check_rows(rows: int) -> None:
    if rows < 1:
        raise ValueError(f"rows per block must be at least 1 (got {rows})")


class _Kept:
    """The prepared blocks of one matrix, kept for every model that asks: each built once,
    when first needed, by the model that claims it (claims go in order). A model whose
    next block another is still building claims and builds the one after instead of
    waiting idle (numpy's conversion and CatBoost's Pool set-up run side by side), then
    takes its block when done. A block whose building failed raises its error for every
    model that reaches it."""

    def __init__(self, matrix: FeatureMatrix, rows: int, prepare: Callable[[np.ndarray], Any]):
        self._matrix = matrix
        self._rows = rows
        self._prepare = prepare
        count = -(-len(matrix.values) // rows)
        self._items: list[Any] = [None] * count
        self._errors: list[BaseException | None] = [None] * count
        self._done = [threading.Event() for _ in range(count)]
        self._claimed = 0  # blocks [0, _claimed) are built or being built
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        for index in range(len(self._items)):
            while not self._done[index].is_set():
                claim = self._claim()
                if claim is None:  # every block is claimed: this one is on its way
                    self._done[index].wait()
                else:
                    self._build(claim)
            error = self._errors[index]
            if error is not None:
                raise error
            yield self._items[index]

    def _claim(self) -> int | None:
        with self._lock:
            if self._claimed == len(self._items):
                return None
            self._claimed += 1
            return self._claimed - 1

    def _build(self, index: int) -> None:
        try:
            block = self._matrix._block(index * self._rows, self._rows)
            self._items[index] = self._prepare(block)
        except BaseException as exc:  # every model that reaches this block raises it
            self._errors[index] = exc
        finally:
            self._done[index].set()


def _convert(series: Sequence[pl.Series], rows: int, *, int8: bool) -> np.ndarray:
    values = np.empty((rows, len(series)), dtype=np.int8 if int8 else np.float32, order="F")
    for start in range(0, len(series), CONVERT_COLUMNS):
        batch = pl.DataFrame(series[start : start + CONVERT_COLUMNS])
        # float32 keeps nulls as NaN; int8 cannot, hence the stand-in.
        batch = batch.fill_null(MISSING) if int8 else batch.cast(pl.Float32)
        values[:, start : start + batch.width] = batch.to_numpy(order="fortran")
    return values
