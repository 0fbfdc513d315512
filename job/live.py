"""Loading live data: ``id`` plus only the columns a predictor asked for, with polars.

Features stay int8 (no pandas copy of the table). Consecutive models that need the
same columns, or a subset of what is already loaded, share one load: only the last
frame is kept, so memory holds one table at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

ID_COLUMN = "id"


class LiveDataError(Exception):
    """live.parquet lacks what the predictor needs (the reason names the columns)."""


class LiveLoader:
    def __init__(self) -> None:
        self._path: Path | None = None
        self._frame: pl.DataFrame | None = None
        self._complete = False  # the kept frame holds every column of its file
        self.loads = 0  # how many times a file was actually read

    def load(self, path: Path, columns: Sequence[str] | None) -> pl.DataFrame:
        """``id`` first, then ``columns`` in the order given (``None``: every column).

        Each caller gets its own frame object sharing the column buffers (cheap), so one
        predictor dropping or renaming columns in place cannot affect the next.
        """
        wanted = None
        if columns is not None:
            wanted = [ID_COLUMN, *dict.fromkeys(c for c in columns if c != ID_COLUMN)]
        if self._frame is not None and self._path == path:
            if wanted is None and self._complete:
                return self._frame.clone()
            if wanted is not None and set(self._frame.columns).issuperset(wanted):
                return self._frame.select(wanted)
        self._frame = None  # release the previous table before reading the next
        schema = pl.read_parquet_schema(path)
        if ID_COLUMN not in schema:
            raise LiveDataError(f"{path.name} has no {ID_COLUMN!r} column")
        if wanted is None:
            wanted = [ID_COLUMN, *(c for c in schema if c != ID_COLUMN)]
        missing = [c for c in wanted if c not in schema]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise LiveDataError(f"{path.name} has no column(s) {', '.join(missing[:5])}{more}")
        frame = pl.read_parquet(path, columns=wanted)
        self.loads += 1
        self._path, self._frame, self._complete = path, frame, columns is None
        return frame.clone()
