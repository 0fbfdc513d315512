"""pred1: the CatBoost example predictor and its trainer, on the synthetic data."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from catboost import Pool

from common.retry import NO_DELAY
from job.live import LiveLoader
from job.model_run import RoundContext
from job.plugins import PredictorError, load_predictor
from predictors.pred1 import train
from predictors.pred1.predictor import create, feature_blocks, rank_unit
from predictors.protocol import Predictor


@pytest.fixture(scope="module")
def features_json(synthetic_data):
    return json.loads((synthetic_data / "features.json").read_text())


def test_predictions_are_ranks_in_unit_interval_and_learned_something(
    pred1_models, synthetic_data, features_json
):
    predictor = create(model_path=str(pred1_models["small"]), feature_set="small")
    assert isinstance(predictor, Predictor)
    columns = predictor.columns(features_json)
    assert sorted(columns) == sorted(features_json["feature_sets"]["small"])

    validation = pl.read_parquet(
        synthetic_data / "validation.parquet", columns=["id", *columns, "target"]
    )
    predictions = predictor.predict(validation.select(["id", *columns]), context=None)

    assert predictions.shape == (validation.height,)
    assert predictions.min() > 0 and predictions.max() == 1.0
    corr = np.corrcoef(predictions, validation["target"].rank().to_numpy())[0, 1]
    assert corr > 0.1  # the synthetic target is learnable; a broken pipeline gives ~0


def test_chunking_does_not_change_predictions(pred1_models, synthetic_data, features_json):
    predictor = create(model_path=str(pred1_models["medium"]))
    live = pl.read_parquet(
        synthetic_data / "live.parquet", columns=["id", *predictor.columns(features_json)]
    )
    assert live.select(pl.all().null_count()).sum_horizontal().item() > 0  # nulls exercised

    whole = predictor.predict(live, context=None)
    predictor.chunk_rows = 7  # 300 rows → 43 chunks, the last one short
    chunked = predictor.predict(live, context=None)

    np.testing.assert_allclose(chunked, whole)
    # Same as CatBoost on the plain float matrix, nulls as NaN.
    reference = live.select(pl.col(predictor.features).cast(pl.Float32)).to_numpy()
    np.testing.assert_allclose(whole, rank_unit(predictor.model.predict(reference)))


def test_blocks_are_fortran_float32_with_nan_for_nulls(pred1_models, synthetic_data):
    predictor = create(model_path=str(pred1_models["medium"]))
    live = pl.read_parquet(synthetic_data / "live.parquet", columns=["id", *predictor.features])

    blocks = list(feature_blocks(live, predictor.features, 128))

    assert [len(b) for b in blocks] == [128, 128, 44]
    assert all(b.dtype == np.float32 and b.flags.f_contiguous for b in blocks)
    expected = live.select(pl.col(predictor.features).cast(pl.Float32)).to_numpy()
    assert np.isnan(expected).any()
    np.testing.assert_array_equal(np.concatenate(blocks), expected)


@pytest.mark.parametrize("others_to_come", [True, False])
def test_models_sharing_the_jobs_matrix_predict_as_with_their_own_conversion(
    pred1_models, synthetic_data, tmp_path, others_to_come
):
    """Three models on the same features (different files, so nothing else is shared)
    use one conversion through the job's context, with the same predictions as alone;
    with more models to come, the first one's CatBoost Pools serve the next ones too."""
    copies = [tmp_path / f"other{i}.cbm" for i in (1, 2)]
    for copy in copies:
        copy.write_bytes(pred1_models["medium"].read_bytes())
    first, second, third = (
        create(model_path=str(path)) for path in (pred1_models["medium"], *copies)
    )
    first.chunk_rows = third.chunk_rows = 128
    second.chunk_rows = 64  # blocks of another size from the same matrix
    loader = LiveLoader()
    path = synthetic_data / "live.parquet"
    context = RoundContext(
        842, "v5.3", None, None, loader, live_path=path, others_to_come=others_to_come
    )

    shared = [m.predict(loader.load(path, m.features), context) for m in (first, second, third)]

    assert loader.loads == 1 and loader.conversions == 1
    matrix = loader.matrix(path, first.features)
    kept = matrix._prepared.get((128, Pool))
    assert (kept is not None and len(kept) == 3) == others_to_come  # 300 rows in 128s
    live = pl.read_parquet(path, columns=["id", *first.features])
    alone = first.predict(live, context=None)
    for predictions in shared:
        np.testing.assert_array_equal(predictions, alone)


def test_blocks_that_miss_rows_are_an_error(pred1_models, synthetic_data):
    class ShortContext:
        threads = 1

        def feature_blocks(self, columns, rows, prepare=None):
            block = np.zeros((10, len(columns)), dtype=np.float32, order="F")
            return iter([block if prepare is None else prepare(block)])

    predictor = create(model_path=str(pred1_models["small"]), feature_set="small")
    live = pl.read_parquet(synthetic_data / "live.parquet", columns=["id", *predictor.features])
    with pytest.raises(ValueError, match="feature blocks held 10 rows, live data 300"):
        predictor.predict(live, ShortContext())


def test_rank_unit_averages_ties():
    assert rank_unit(np.array([0.3, 0.1, 0.3, 0.9])).tolist() == [0.625, 0.25, 0.625, 1.0]


def test_feature_set_mismatch_names_the_model(pred1_models, features_json):
    predictor = create(model_path=str(pred1_models["small"]), feature_set="medium")
    with pytest.raises(ValueError, match=r"small\.cbm does not match feature set 'medium'"):
        predictor.columns(features_json)


def test_unknown_feature_set_is_named(pred1_models, features_json):
    predictor = create(model_path=str(pred1_models["small"]), feature_set="tiny")
    with pytest.raises(
        ValueError, match=r"no feature set 'tiny' \(it has \['all', 'medium', 'small'\]\)"
    ):
        predictor.columns(features_json)


def test_loader_reports_missing_model_file_with_its_path(tmp_path):
    missing = tmp_path / "nope.cbm"
    with pytest.raises(PredictorError, match=f"model file {missing} not found"):
        load_predictor("pred1", {"model_path": str(missing)})


def test_loader_reports_a_file_that_is_not_a_model(tmp_path):
    junk = tmp_path / "junk.cbm"
    junk.write_bytes(b"not a model")
    with pytest.raises(PredictorError, match="is not a CatBoost model"):
        load_predictor("pred1", {"model_path": str(junk)})


def test_loader_reports_unknown_plugin_and_bad_options(pred1_models):
    with pytest.raises(PredictorError, match=r"no module predictors/nothing_here/predictor\.py"):
        load_predictor("nothing_here", {})
    with pytest.raises(PredictorError, match=r"bad options \['model_path', 'speed'\]"):
        load_predictor("pred1", {"model_path": str(pred1_models["small"]), "speed": 3})
    with pytest.raises(PredictorError, match="bad options"):
        load_predictor("pred1", {})  # model_path is required


def test_choose_eras_subsamples():
    eras = [f"{i:04d}" for i in range(1, 11)]
    assert train.choose_eras(eras, stride=4, max_eras=None) == ["0001", "0005", "0009"]
    assert train.choose_eras(eras, stride=None, max_eras=5) == [
        "0001",
        "0003",
        "0005",
        "0007",
        "0009",
    ]
    assert train.choose_eras(eras, stride=None, max_eras=50) == eras
    assert train.choose_eras(eras, stride=None, max_eras=None) == eras


def test_train_through_the_fake_reads_only_needed_columns_and_subsamples(
    fake_numerai, tmp_path, capsys
):
    env = {
        "NUMERAI_API_URL": fake_numerai.url,
        "NUMERAI_DATA_DIR": str(tmp_path / "data"),
        "LOG_FORMAT": "json",
    }
    out = tmp_path / "model.cbm"
    argv = ["--feature-set", "small", "--iterations", "5", "--depth", "3", "--max-eras", "6"]

    assert train.main([*argv, "--output", str(out)], env) == 0

    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith(
        f"wrote {out}: 360 rows from 6 eras, 6 'small' features, 5 trees of depth 3"
    )
    assert (tmp_path / "data" / "v5.3" / "train.parquet").is_file()
    assert fake_numerai.file_gets("train.parquet") == 1
    model = create(model_path=str(out), feature_set="small")
    assert len(model.features) == 6
    assert not (tmp_path / "catboost_info").exists()


def test_train_refuses_unknown_feature_set(fake_numerai, tmp_path, capsys):
    env = {"NUMERAI_API_URL": fake_numerai.url, "NUMERAI_DATA_DIR": str(tmp_path / "data")}
    with pytest.raises(SystemExit) as info:
        train.main(
            ["--feature-set", "huge", "--iterations", "5", "--output", str(tmp_path / "m.cbm")], env
        )
    assert info.value.code == 2
    assert "--feature-set 'huge'" in capsys.readouterr().err


def test_train_reports_an_unreachable_api(tmp_path, capsys):
    env = {"NUMERAI_API_URL": "http://127.0.0.1:9", "NUMERAI_DATA_DIR": str(tmp_path / "data")}
    argv = ["--iterations", "5", "--output", str(tmp_path / "m.cbm")]
    code = train.main(argv, env, retry=NO_DELAY)
    assert code == 1
    assert "cannot download v5.3 data" in capsys.readouterr().err
