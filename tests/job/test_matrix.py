"""Live features as one shared matrix (job.matrix, LiveLoader.matrix): what the blocks hold."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pytest

from job.live import LiveDataError, LiveLoader
from job.matrix import MISSING, FeatureMatrix, MatrixError


def reference(frame: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """The plain float32 matrix, nulls as NaN, straight from polars."""
    return frame.select(pl.col(columns).cast(pl.Float32)).to_numpy()


@pytest.fixture(scope="module")
def live(synthetic_data) -> pl.DataFrame:
    return pl.read_parquet(synthetic_data / "live.parquet")


@pytest.fixture(scope="module")
def features(live) -> list[str]:
    return [c for c in live.columns if c.startswith("feature_")]


def test_int8_features_give_fortran_float32_blocks_with_nan_for_nulls(live, features):
    assert live.select(pl.col(features).null_count()).sum_horizontal().item() > 0

    matrix = FeatureMatrix.from_frame(live, features)
    blocks = list(matrix.blocks(128))

    assert matrix.values.dtype == np.int8 and matrix.has_missing  # stored small
    assert [len(b) for b in blocks] == [128, 128, 44]  # 300 rows, the last block short
    for block in blocks:
        assert block.dtype == np.float32
        assert block.flags.f_contiguous and block.shape[1] == len(features)
    whole = np.concatenate(blocks)
    expected = reference(live, features)
    np.testing.assert_array_equal(whole, expected)  # NaN where polars has nulls, in place
    assert np.isnan(whole).sum() == live.select(pl.col(features).null_count()).sum_horizontal()[0]


def test_columns_come_in_the_order_asked(live, features):
    picked = [features[7], features[2], features[30]]
    whole = np.concatenate(list(FeatureMatrix.from_frame(live, picked).blocks(1000)))
    np.testing.assert_array_equal(whole, reference(live, picked))


def test_each_block_is_a_fresh_array(live, features):
    matrix = FeatureMatrix.from_frame(live, features)
    first = next(matrix.blocks(50))
    first[:] = 99.0  # a predictor scribbling on its block
    again = next(matrix.blocks(50))
    np.testing.assert_array_equal(again, reference(live, features)[:50])


def test_an_int8_column_using_the_stand_in_value_is_kept_exact():
    frame = pl.DataFrame(
        {
            "a": pl.Series([MISSING, None, 3], dtype=pl.Int8),
            "b": pl.Series([1, 2, None], dtype=pl.Int8),
        }
    )
    matrix = FeatureMatrix.from_frame(frame, ["a", "b"])
    [block] = matrix.blocks(10)
    assert matrix.values.dtype == np.float32  # MISSING cannot stand for null here
    np.testing.assert_array_equal(block, [[MISSING, 1.0], [np.nan, 2.0], [3.0, np.nan]])


def test_other_numeric_columns_become_float32():
    frame = pl.DataFrame(
        {
            "f": pl.Series([0.25, None, 1.5], dtype=pl.Float64),
            "i": pl.Series([7, 8, 9], dtype=pl.Int64),
            "flag": pl.Series([True, False, None]),
        }
    )
    [block] = FeatureMatrix.from_frame(frame, ["f", "i", "flag"]).blocks(3)
    assert block.dtype == np.float32 and block.flags.f_contiguous
    np.testing.assert_array_equal(block, [[0.25, 7, 1], [np.nan, 8, 0], [1.5, 9, np.nan]])


def test_without_nulls_int8_values_pass_unchanged():
    frame = pl.DataFrame({"a": pl.Series([MISSING, 0, 4], dtype=pl.Int8)})
    matrix = FeatureMatrix.from_frame(frame, ["a"])
    assert matrix.values.dtype == np.int8 and not matrix.has_missing
    np.testing.assert_array_equal(next(matrix.blocks(3)), [[MISSING], [0], [4]])


def test_text_columns_and_bad_block_sizes_are_refused(live, features):
    with pytest.raises(MatrixError, match=r"column 'era' is String, not a number"):
        FeatureMatrix.from_frame(live, [features[0], "era"])
    with pytest.raises(MatrixError, match=r"no column 'feature_nope' in the frame"):
        FeatureMatrix.from_frame(live, [features[0], "feature_nope"])
    with pytest.raises(ValueError, match="rows per block must be at least 1"):
        next(FeatureMatrix.from_frame(live, features).blocks(0))


def test_loader_converts_once_per_file_and_column_list(synthetic_data, features):
    path = synthetic_data / "live.parquet"
    loader = LiveLoader()
    loader.load(path, features)

    first = loader.matrix(path, features)
    assert loader.matrix(path, features) is first  # the next model with these columns shares it
    assert loader.conversions == 1 and loader.loads == 1

    subset = loader.matrix(path, features[:5])  # another column list replaces it
    assert subset.shape == (300, 5) and loader.conversions == 2
    loader.matrix(path, features)
    assert loader.conversions == 3  # only one matrix is kept at a time
    assert loader.loads == 1  # all from the frame already loaded

    loader.load(path, None)  # a new frame drops the matrix of the old one
    assert loader.matrix(path, features) is not first
    assert loader.conversions == 4 and loader.loads == 2


def test_loader_matrix_of_another_file_is_never_the_kept_one(synthetic_data, features, tmp_path):
    """Same column names, another file (e.g. another data version's live data): the
    matrix is built from that file, not from the frame that happens to be kept."""
    path = synthetic_data / "live.parquet"
    other = tmp_path / "live.parquet"
    frame = pl.read_parquet(path)
    frame.with_columns(pl.col(features).fill_null(0).reverse()).write_parquet(other)
    loader = LiveLoader()
    loader.load(path, features)
    first = loader.matrix(path, features)

    second = loader.matrix(other, features)  # nothing of `other` loaded yet: read it

    assert loader.loads == 2
    np.testing.assert_array_equal(
        np.concatenate(list(first.blocks(100))), reference(frame, features)
    )
    expected = reference(pl.read_parquet(other), features)
    np.testing.assert_array_equal(np.concatenate(list(second.blocks(100))), expected)


def test_loader_matrix_failures_name_the_columns(synthetic_data, features):
    path = synthetic_data / "live.parquet"
    loader = LiveLoader()
    loader.load(path, features[:3])
    with pytest.raises(LiveDataError, match=r"live\.parquet has no column.*feature_nope"):
        loader.matrix(path, [features[0], "feature_nope"])
    with pytest.raises(LiveDataError, match=f"more than once: {features[1]}"):
        loader.matrix(path, [features[1], features[0], features[1]])
    with pytest.raises(LiveDataError, match="live data: column 'id' is String, not a number"):
        loader.matrix(path, ["id", features[0]])
    assert loader.conversions == 0


def test_loader_hands_each_model_its_own_frame_for_the_same_columns(synthetic_data, features):
    path = synthetic_data / "live.parquet"
    loader = LiveLoader()
    first = loader.load(path, features)
    first.drop_in_place(features[0])  # a predictor mutating its frame
    second = loader.load(path, features)
    assert second.columns == ["id", *features]
    assert loader.loads == 1


def test_prepared_blocks_are_built_once_when_kept_and_streamed_otherwise(live, features):
    matrix = FeatureMatrix.from_frame(live, features)
    made: list[np.ndarray] = []

    def prepare(block: np.ndarray) -> tuple[int, float]:
        made.append(block)
        return len(block), float(np.nansum(block))

    streamed = list(matrix.prepared(128, prepare, keep=False))  # nobody else will ask
    assert len(made) == 3 and matrix._prepared == {}
    kept = list(matrix.prepared(128, prepare, keep=True))
    again = list(matrix.prepared(128, prepare, keep=False))  # the last model: shares
    assert len(made) == 6 and kept == again == streamed
    assert [rows for rows, _ in kept] == [128, 128, 44]
    sums = [total for _, total in kept]
    assert sum(sums) == pytest.approx(float(np.nansum(reference(live, features))))

    list(matrix.prepared(64, prepare, keep=True))  # another block size replaces the list
    assert list(matrix._prepared) == [(64, prepare)] and len(made) == 6 + 5


def test_two_models_starting_together_build_the_kept_blocks_side_by_side(live, features):
    # The first block's build waits until another thread has begun the second: it can only
    # proceed if the model waiting for block 0 builds block 1 meanwhile.
    matrix = FeatureMatrix.from_frame(live, features)
    first = next(matrix.blocks(128))
    other_begun = threading.Event()
    builders: list[str] = []  # the thread that built block 0, then the others'

    def prepare(block: np.ndarray) -> float:
        if np.array_equal(block, first, equal_nan=True):
            builders.insert(0, threading.current_thread().name)
            assert other_begun.wait(10), "nobody built ahead while block 0 was being built"
        else:
            builders.append(threading.current_thread().name)
            other_begun.set()
        return float(np.nansum(block))

    kept: list[list[float]] = []
    with ThreadPoolExecutor(2) as pool:
        kept = list(pool.map(lambda _: list(matrix.prepared(128, prepare, keep=True)), [1, 2]))

    assert kept[0] == kept[1] and len(kept[0]) == 3  # both models, every block, in order
    assert len(builders) == 3  # each block built once
    assert builders[0] not in builders[1:]  # by the other model while block 0 was built
    assert sum(kept[0]) == pytest.approx(float(np.nansum(reference(live, features))))


def test_a_kept_block_that_fails_to_build_fails_every_model_reaching_it(live, features):
    matrix = FeatureMatrix.from_frame(live, features)
    calls: list[int] = []

    def prepare(block: np.ndarray) -> int:
        calls.append(len(block))
        if len(calls) == 2:
            raise ValueError("block 1 cannot be prepared")
        return len(block)

    for _ in range(2):  # the model that built it, then one sharing the kept blocks
        blocks = matrix.prepared(128, prepare, keep=True)
        assert next(blocks) == 128
        with pytest.raises(ValueError, match="block 1 cannot be prepared"):
            next(blocks)
    assert len(calls) == 2  # not built again
