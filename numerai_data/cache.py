"""The dataset cache: ``<data dir>/<data version>/<round>/<file>`` (``numerai_data.layout``),
written atomically.

A file in the cache was verified before it got there, so it is used without asking
Numerai anything: a second run of the same round, or the next model of the same
execution, downloads nothing. Downloads go to a private temporary name in the same
directory (numerapi writes ``<name>.temp`` first), are checked (a parquet file must have
its footer and a readable schema; a JSON file must parse) and only then ``os.replace``d
into place. A truncated or corrupt download is deleted and fetched again.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from common.retry import RetryPolicy, TransientError
from numerai_data.client import classify_http_error
from numerai_data.layout import cache_file

log = logging.getLogger(__name__)

# Every parquet file starts and ends with these 4 bytes; a truncated one lacks the end.
PARQUET_MAGIC = b"PAR1"
# numerapi.utils.download_file writes to this suffix and renames when the body ends.
NUMERAPI_PARTIAL_SUFFIX = ".temp"


class DatasetSource(Protocol):
    """The part of numerapi the cache uses (``NumerAPI.download_dataset``)."""

    def download_dataset(
        self, filename: str, dest_path: str | None = None, round_num: int | None = None
    ) -> str: ...


class CorruptDownload(TransientError):
    """The bytes on disk are not a whole file (truncated body, broken parquet/JSON)."""


class DatasetCache:
    def __init__(self, source: DatasetSource, root: Path, retry: RetryPolicy):
        self.source = source
        self.root = Path(root)
        self.retry = retry
        # Threads sharing the cache (the job's models predicting at once) must not
        # download the same file twice into the same temporary name: one at a time.
        self._lock = threading.Lock()

    def path(
        self,
        data_version: str,
        filename: str,
        round_num: int | None,
        *,
        logger: logging.Logger | logging.LoggerAdapter = log,
    ) -> Path:
        """Local path of ``<data_version>/<filename>``, downloading it on first use.

        ``round_num=None`` is for files that do not change with the round
        (``train.parquet``); they live in ``<data version>/`` directly.
        """
        with self._lock:
            return self._path(data_version, filename, round_num, logger)

    def _path(
        self,
        data_version: str,
        filename: str,
        round_num: int | None,
        logger: logging.Logger | logging.LoggerAdapter,
    ) -> Path:
        if not filename or "/" in filename or "\\" in filename or filename.startswith("."):
            raise ValueError(f"dataset file name must be a plain file name (got {filename!r})")
        if not data_version or "/" in data_version or data_version.startswith("."):
            raise ValueError(f"data version must be like 'v5.3' (got {data_version!r})")
        final = cache_file(self.root, data_version, filename, round_num)
        folder = final.parent
        if final.exists():
            logger.info("using cached %s", final, extra={"fields": {"cache": "hit"}})
            return final
        folder.mkdir(parents=True, exist_ok=True)
        remote = f"{data_version}/{filename}"
        self.retry.call(
            lambda: self._download(remote, final, round_num),
            what=f"download of {remote}",
            logger=logger,
        )
        logger.info(
            "downloaded %s (%d bytes)",
            remote,
            final.stat().st_size,
            extra={"fields": {"cache": "miss", "bytes": final.stat().st_size}},
        )
        return final

    def _download(self, remote: str, final: Path, round_num: int | None) -> None:
        temp = final.with_name(f".{final.name}.{os.getpid()}.part")
        partial = Path(str(temp) + NUMERAPI_PARTIAL_SUFFIX)
        try:
            self.source.download_dataset(remote, dest_path=str(temp), round_num=round_num)
            verify(temp)
            os.replace(temp, final)
        except Exception as exc:
            named = classify_http_error(exc, f"download of {remote}")
            if named is None:
                raise
            raise named from None
        finally:
            # Never resume from, or leave behind, bytes that did not make a whole file.
            for leftover in (temp, partial):
                leftover.unlink(missing_ok=True)


def verify(path: Path) -> None:
    """Raise CorruptDownload unless ``path`` holds a whole parquet/JSON file."""
    size = path.stat().st_size
    if size == 0:
        raise CorruptDownload(f"{path.name} is empty")
    if path.name.endswith(".parquet"):
        with path.open("rb") as fh:
            head = fh.read(len(PARQUET_MAGIC))
            fh.seek(-len(PARQUET_MAGIC), os.SEEK_END)
            tail = fh.read(len(PARQUET_MAGIC))
        if head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
            raise CorruptDownload(f"{path.name}: truncated or not parquet ({size} bytes)")
        try:
            pl.read_parquet_schema(path)
        except Exception as exc:
            raise CorruptDownload(f"{path.name}: unreadable parquet footer ({exc})") from exc
    elif path.name.endswith(".json"):
        try:
            json.loads(path.read_bytes())
        except ValueError as exc:
            raise CorruptDownload(f"{path.name}: truncated or invalid JSON ({exc})") from exc


def read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())
