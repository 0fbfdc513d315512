"""The dataset cache's checks and the live loader's column handling, on local files."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from common.retry import NO_DELAY
from job.live import LiveDataError, LiveLoader
from numerai_data.cache import CorruptDownload, DatasetCache, verify


def test_whole_files_pass_verification(synthetic_data):
    for name in ("live.parquet", "features.json"):
        verify(synthetic_data / name)


@pytest.mark.parametrize(
    ("name", "keep"), [("live.parquet", 0.5), ("live.parquet", 0.999), ("features.json", 0.9)]
)
def test_truncated_files_fail_verification(tmp_path, synthetic_data, name, keep):
    data = (synthetic_data / name).read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CorruptDownload, match=name):
        verify(cut)


def test_parquet_with_intact_ends_but_broken_footer_fails(tmp_path, synthetic_data):
    data = bytearray((synthetic_data / "live.parquet").read_bytes())
    data[-12:-4] = b"\xff" * 8  # footer length and metadata end: garbage
    broken = tmp_path / "live.parquet"
    broken.write_bytes(bytes(data))
    with pytest.raises(CorruptDownload, match="unreadable parquet footer"):
        verify(broken)


class CopySource:
    """Serves local files the way numerapi's download_dataset writes them."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.calls: list[tuple[str, int | None]] = []

    def download_dataset(self, filename, dest_path=None, round_num=None):
        self.calls.append((filename, round_num))
        shutil.copyfile(self.folder / filename.split("/")[-1], dest_path)
        return dest_path


def test_cache_downloads_once_per_round_and_keys_by_version_and_round(tmp_path, synthetic_data):
    source = CopySource(synthetic_data)
    cache = DatasetCache(source, tmp_path, NO_DELAY)

    first = cache.path("v5.3", "live.parquet", 842)
    again = cache.path("v5.3", "live.parquet", 842)
    other = cache.path("v5.3", "live.parquet", 843)
    train = cache.path("v5.3", "train.parquet", None)

    assert first == again == tmp_path / "v5.3" / "842" / "live.parquet"
    assert other == tmp_path / "v5.3" / "843" / "live.parquet"
    assert train == tmp_path / "v5.3" / "train.parquet"
    assert source.calls == [
        ("v5.3/live.parquet", 842),
        ("v5.3/live.parquet", 843),
        ("v5.3/train.parquet", None),
    ]


@pytest.mark.parametrize("name", ["../live.parquet", "a/b.parquet", ".hidden", ""])
def test_cache_refuses_paths_outside_it(tmp_path, synthetic_data, name):
    cache = DatasetCache(CopySource(synthetic_data), tmp_path, NO_DELAY)
    with pytest.raises(ValueError, match="plain file name"):
        cache.path("v5.3", name, 842)


def test_loader_reads_only_the_requested_columns_as_int8(synthetic_data):
    path = synthetic_data / "live.parquet"
    features = [c for c in pl.read_parquet_schema(path) if c.startswith("feature_")]
    loader = LiveLoader()

    frame = loader.load(path, features[5:10])

    assert frame.columns == ["id", *features[5:10]]
    assert all(dtype == pl.Int8 for dtype in frame.select(features[5:10]).dtypes)
    assert loader.loads == 1


def test_loader_reuses_a_frame_that_already_holds_the_columns(synthetic_data):
    path = synthetic_data / "live.parquet"
    features = [c for c in pl.read_parquet_schema(path) if c.startswith("feature_")]
    loader = LiveLoader()

    loader.load(path, features[:10])
    subset = loader.load(path, features[2:4])
    assert subset.columns == ["id", *features[2:4]]
    assert loader.loads == 1

    loader.load(path, features[:12])  # needs columns it does not hold
    assert loader.loads == 2
    everything = loader.load(path, None)
    assert everything.columns == list(pl.read_parquet_schema(path))
    everything.drop_in_place(everything.columns[-1])  # a predictor mutating its frame
    assert loader.load(path, None).columns == list(pl.read_parquet_schema(path))
    assert loader.loads == 3


def test_loader_names_missing_columns(synthetic_data):
    with pytest.raises(LiveDataError, match=r"live\.parquet has no column"):
        LiveLoader().load(synthetic_data / "live.parquet", ["feature_nope", "feature_nada"])
