"""Loading live data: ``id`` plus only the columns a predictor asked for, with polars.

Features stay int8 (no pandas copy of the table). Models that need the same columns, or
a subset of what is already loaded, share one load: only the last frame is kept, so
memory holds one table at a time. Likewise the features as a matrix (job.matrix):
converted on the first model's request, kept for the next model that asks for the same
columns of the same file, dropped with its frame.

Models of one task may run in threads (job.parallel): one lock makes a model wait while
another reads or converts, after which it usually finds what it needs already there.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from job.matrix import FeatureMatrix, MatrixError

ID_COLUMN = "id"
# A reason names this many missing columns, then counts the rest.
COLUMNS_SHOWN = 5


class LiveDataError(Exception):
    """live.parquet lacks what the predictor needs (the reason names the columns)."""


class LiveLoader:
    def __init__(self) -> None:
        self._path: Path | None = None
        self._frame: pl.DataFrame | None = None
        self._complete = False  # the kept frame holds every column of its file
        self._matrix: FeatureMatrix | None = None  # of the kept frame
        self._lock = threading.Lock()
        self.loads = 0  # how many times a file was actually read
        self.conversions = 0  # how many matrices were built

    def load(self, path: Path, columns: Sequence[str] | None) -> pl.DataFrame:
        """``id`` first, then ``columns`` in the order given (``None``: every column).

        Each caller gets its own frame object sharing the column buffers (cheap), so one
        predictor dropping or renaming columns in place cannot affect the next.
        """
        with self._lock:
            return self._load(path, columns).clone()

    def _load(self, path: Path, columns: Sequence[str] | None) -> pl.DataFrame:
        """The kept frame when it has the columns (else a frame of them), lock held."""
        wanted = None
        if columns is not None:
            wanted = [ID_COLUMN, *dict.fromkeys(c for c in columns if c != ID_COLUMN)]
        if self._frame is not None and self._path == path:
            if wanted is None and self._complete:
                return self._frame
            if wanted == self._frame.columns:
                # The same columns as the last model: no select (polars builds one
                # expression per column, 20 ms for 3,556 of them).
                return self._frame
            if wanted is not None and set(self._frame.columns).issuperset(wanted):
                return self._frame.select(wanted)
        # Release the previous table (and its matrix) before reading the next.
        self._frame = self._matrix = None
        # One parse of the footer (2.3 MB of metadata for 3,563 columns) serves both the
        # schema check and the read: a scan keeps what it parsed.
        scan = pl.scan_parquet(path)
        schema = scan.collect_schema()
        if ID_COLUMN not in schema:
            raise LiveDataError(f"{path.name} has no {ID_COLUMN!r} column")
        if wanted is None:
            wanted = [ID_COLUMN, *(c for c in schema if c != ID_COLUMN)]
        missing = [c for c in wanted if c not in schema]
        if missing:
            raise LiveDataError(f"{path.name} has no column(s) {_some(missing)}")
        frame = scan.select(wanted).collect()
        self.loads += 1
        self._path, self._frame, self._complete = path, frame, columns is None
        return frame

    def matrix(self, path: Path, columns: Sequence[str]) -> FeatureMatrix:
        """``columns`` of the file at ``path`` as one matrix, built on first use and kept
        (one at a time) for the next model that asks for the same columns of that file.
        Built from the kept frame when it holds them, else from a fresh load."""
        columns = tuple(columns)
        repeated = [c for c, n in Counter(columns).items() if n > 1]
        if repeated:
            raise LiveDataError(f"column(s) asked for more than once: {_some(repeated)}")
        with self._lock:
            kept = self._matrix
            if kept is not None and self._path == path and kept.columns == columns:
                return kept
            frame = self._load(path, [c for c in columns if c != ID_COLUMN])
            self._matrix = None  # release the previous matrix before building the next
            try:
                self._matrix = FeatureMatrix.from_frame(frame, columns)
            except MatrixError as exc:
                raise LiveDataError(f"live data: {exc}") from None
            self.conversions += 1
            return self._matrix


def _some(names: Sequence[str]) -> str:
    more = f" and {len(names) - COLUMNS_SHOWN} more" if len(names) > COLUMNS_SHOWN else ""
    return ", ".join(names[:COLUMNS_SHOWN]) + more
