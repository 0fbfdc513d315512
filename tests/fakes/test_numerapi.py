"""The fake Numerai, driven through the real numerapi client (no mocks).

numerapi reads its API URL from the module constant numerapi.base_api.API_TOURNAMENT_URL;
the `api` fixture points it at the fake and restores it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numerapi
import numerapi.base_api
import numpy as np
import pandas as pd
import pytest
import requests
from numerapi import utils

from fakes.numerai import FakeNumerai
from fakes.synthetic import SyntheticSpec

MODEL_ID = "5f1a7c2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
GOOD_KEYS = ("FAKEPUBLICID", "FAKESECRETKEY")
ROUNDS_QUERY = "query($tournament: Int!) { rounds(tournament: $tournament number: 0) { number } }"


@pytest.fixture
def api(fake_numerai: FakeNumerai) -> Iterator[numerapi.NumerAPI]:
    saved = numerapi.base_api.API_TOURNAMENT_URL
    numerapi.base_api.API_TOURNAMENT_URL = fake_numerai.url
    try:
        yield numerapi.NumerAPI(*GOOD_KEYS, show_progress_bars=False)
    finally:
        numerapi.base_api.API_TOURNAMENT_URL = saved


@pytest.fixture
def predictions(synthetic_data: Path) -> pd.DataFrame:
    """A valid submission: every live id once, values in [0, 1]."""
    live = pd.read_parquet(synthetic_data / "live.parquet", columns=["era"])
    ranks = np.arange(1, len(live) + 1) / len(live)
    return pd.DataFrame({"id": live.index, "prediction": ranks})


@pytest.fixture
def trigger_id(monkeypatch: pytest.MonkeyPatch) -> str:
    # numerapi reads TRIGGER_ID from the environment (setting an env var, not patching code).
    monkeypatch.setenv("TRIGGER_ID", "trigger-abc-123")
    return "trigger-abc-123"


def test_current_round_and_datasets(api: numerapi.NumerAPI, fake_numerai: FakeNumerai) -> None:
    assert api.get_current_round() == fake_numerai.current_round == 842
    assert api.list_datasets() == [
        "v5.3/features.json",
        "v5.3/live.parquet",
        "v5.3/live_benchmark_models.parquet",
        "v5.3/train.parquet",
        "v5.3/validation.parquet",
    ]
    assert api.check_round_open()  # opened an hour ago, staking closes in a day


def test_download_gives_the_exact_file(
    api: numerapi.NumerAPI, fake_numerai: FakeNumerai, synthetic_data: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "live.parquet"
    assert api.download_dataset("v5.3/live.parquet", str(dest)) == str(dest)
    assert dest.read_bytes() == (synthetic_data / "live.parquet").read_bytes()
    assert fake_numerai.file_gets("live.parquet") == 1
    ops = [r.graphql_op for r in fake_numerai.requests if r.method == "POST"]
    assert ops == ["dataset"]


def test_size_check_of_a_complete_file_is_not_a_download(
    api: numerapi.NumerAPI, fake_numerai: FakeNumerai, tmp_path: Path
) -> None:
    dest = str(tmp_path / "live.parquet")
    api.download_dataset("v5.3/live.parquet", dest)
    api.download_dataset("v5.3/live.parquet", dest)  # numerapi GETs, reads the size, drops it
    gets = [r for r in fake_numerai.requests if r.method == "GET"]
    assert len(gets) == 2  # the second GET happened...
    assert fake_numerai.file_gets("live.parquet") == 1  # ...but its body was not read
    assert fake_numerai.file_gets("train.parquet") == 0


def test_download_resumes_a_partial_temp_file_with_range(
    api: numerapi.NumerAPI, fake_numerai: FakeNumerai, synthetic_data: Path, tmp_path: Path
) -> None:
    source = (synthetic_data / "live.parquet").read_bytes()
    dest = tmp_path / "live.parquet"
    partial = len(source) // 3
    Path(f"{dest}.temp").write_bytes(source[:partial])
    api.download_dataset("v5.3/live.parquet", str(dest))
    assert dest.read_bytes() == source
    ranged = [r for r in fake_numerai.requests if r.range is not None]
    assert [(r.range, r.status, r.body_bytes_sent) for r in ranged] == [
        (f"bytes={partial}-", 206, len(source) - partial)
    ]


def test_truncated_download_raises_and_leaves_no_final_file_then_resumes(
    api: numerapi.NumerAPI, fake_numerai: FakeNumerai, synthetic_data: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "live.parquet"
    fake_numerai.faults.truncate_downloads(1, fraction=0.5)
    with pytest.raises(requests.exceptions.RequestException):
        api.download_dataset("v5.3/live.parquet", str(dest))
    assert not dest.exists()
    source = (synthetic_data / "live.parquet").read_bytes()
    temp = Path(f"{dest}.temp")
    assert temp.stat().st_size < len(source)  # numerapi writes 1 MiB chunks: maybe nothing
    assert fake_numerai.file_gets("live.parquet") == 0  # a cut body is not a download
    # The fault is spent: the next attempt resumes from the partial file.
    api.download_dataset("v5.3/live.parquet", str(dest))
    assert dest.read_bytes() == source
    assert any(r.status == 206 for r in fake_numerai.requests)


def test_unknown_dataset_and_future_round_are_errors(
    api: numerapi.NumerAPI, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"'v5\.3/nope\.parquet' not found"):
        api.download_dataset("v5.3/nope.parquet", str(tmp_path / "x"))
    with pytest.raises(ValueError, match="round 900 has not opened yet"):
        api.download_dataset("v5.3/live.parquet", str(tmp_path / "y"), round_num=900)
    assert not list(tmp_path.iterdir())


def test_upload_records_submission_with_trigger_id(
    api: numerapi.NumerAPI,
    fake_numerai: FakeNumerai,
    predictions: pd.DataFrame,
    trigger_id: str,
) -> None:
    submission_id = api.upload_predictions(df=predictions, model_id=MODEL_ID)
    [sub] = fake_numerai.submissions
    assert sub.id == submission_id
    assert (sub.model_id, sub.trigger_id, sub.round, sub.rows) == (
        MODEL_ID,
        trigger_id,
        842,
        len(predictions),
    )
    assert sub.filename.endswith("/predictions.csv")
    assert sub.csv == predictions.to_csv(index=False).encode()
    # numerapi's listing query, and a raw query for the trigger id (a smoke check's need).
    assert [s["id"] for s in api.submission_ids(MODEL_ID)] == [submission_id]
    raw = api.raw_query(
        "query($m: String) { submissions(modelId: $m) { id triggerId round { number } } }",
        {"m": MODEL_ID},
        authorization=True,
    )
    assert raw["data"]["submissions"] == [
        {"id": submission_id, "triggerId": trigger_id, "round": {"number": 842}}
    ]


def test_without_trigger_id_the_submission_has_none(
    api: numerapi.NumerAPI,
    fake_numerai: FakeNumerai,
    predictions: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRIGGER_ID", raising=False)
    api.upload_predictions(df=predictions, model_id=MODEL_ID)
    assert fake_numerai.submissions[0].trigger_id is None


def test_wrong_keys_are_refused_without_echoing_the_secret(
    fake_numerai: FakeNumerai, api: numerapi.NumerAPI, predictions: pd.DataFrame
) -> None:
    wrong = numerapi.NumerAPI("FAKEPUBLICID", "WRONG-SECRET-42", show_progress_bars=False)
    with pytest.raises(ValueError, match="authenticated") as excinfo:
        wrong.upload_predictions(df=predictions, model_id=MODEL_ID)
    assert "WRONG-SECRET-42" not in str(excinfo.value)
    assert "FAKESECRETKEY" not in str(excinfo.value)
    with pytest.raises(ValueError, match="authenticated"):
        wrong.get_models()
    assert fake_numerai.submissions == []
    assert not any(r.method == "PUT" for r in fake_numerai.requests)


def test_failed_put_stores_nothing_and_create_submission_errors(
    api: numerapi.NumerAPI, fake_numerai: FakeNumerai, predictions: pd.DataFrame
) -> None:
    fake_numerai.faults.fail_puts(1, status=500)
    # numerapi ignores the PUT's status; Numerai's create_submission then finds no file.
    with pytest.raises(ValueError, match="no uploaded file"):
        api.upload_predictions(df=predictions, model_id=MODEL_ID)
    assert [r.status for r in fake_numerai.requests if r.method == "PUT"] == [500]
    assert fake_numerai.submissions == []
    api.upload_predictions(df=predictions, model_id=MODEL_ID)  # the fault is spent
    assert len(fake_numerai.submissions) == 1


def test_create_submission_error_fault(
    api: numerapi.NumerAPI, fake_numerai: FakeNumerai, predictions: pd.DataFrame
) -> None:
    fake_numerai.faults.create_submission_error("Round is closed for submissions")
    with pytest.raises(ValueError, match="Round is closed for submissions"):
        api.upload_predictions(df=predictions, model_id=MODEL_ID)
    assert fake_numerai.submissions == []


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda df: df.rename(columns={"prediction": "pred"}), "exactly id,prediction"),
        (lambda df: df.assign(extra=1), "exactly id,prediction"),
        (lambda df: df.iloc[1:], "missing 1 of 300 live ids"),
        (lambda df: pd.concat([df, df.iloc[:1]]), "duplicate id"),
        (lambda df: df.assign(prediction=df.prediction.where(df.index != 5)), "not a number"),
        (lambda df: df.assign(prediction=df.prediction + 0.5), r"not in \[0, 1\]"),
        (lambda df: df.assign(prediction=0.5), "constant"),
        (lambda df: df.assign(id=df.id.where(df.index != 0, "nBOGUS")), "ids not in live"),
    ],
)
def test_invalid_submissions_are_rejected(
    api: numerapi.NumerAPI,
    fake_numerai: FakeNumerai,
    predictions: pd.DataFrame,
    mangle,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        api.upload_predictions(df=mangle(predictions), model_id=MODEL_ID)
    assert fake_numerai.submissions == []


def test_missing_model_id_is_an_error(api: numerapi.NumerAPI, predictions: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="modelId is required"):
        api.upload_predictions(df=predictions)


def test_graphql_5xx_then_success_through_numerapi_retry(
    api: numerapi.NumerAPI, fake_numerai: FakeNumerai
) -> None:
    fake_numerai.faults.graphql_5xx(2, status=502)
    # numerapi's own retry loop, with its delay set to zero (the default sleeps 5 s, 10 s).
    result = api.raw_query(ROUNDS_QUERY, {"tournament": 8}, retries=3, delay=0)
    assert result["data"]["rounds"] == [{"number": 842}]
    statuses = [r.status for r in fake_numerai.requests]
    assert statuses == [502, 502, 200]


def test_graphql_5xx_exhausting_retries_gives_keyerror_data(
    api: numerapi.NumerAPI, fake_numerai: FakeNumerai
) -> None:
    fake_numerai.faults.graphql_5xx(3)
    with pytest.raises(KeyError, match="data"):
        api.raw_query(ROUNDS_QUERY, {"tournament": 8}, retries=3, delay=0)["data"]
    assert [r.status for r in fake_numerai.requests] == [503, 503, 503]
    assert api.get_current_round() == 842  # spent


def test_graphql_delay_trips_a_client_timeout(fake_numerai: FakeNumerai) -> None:
    fake_numerai.faults.graphql_delay(1, seconds=1.0)
    body = {"query": ROUNDS_QUERY, "variables": {"tournament": 8}}
    # numerapi's POST helper returns {} on a timeout (it logs and swallows it).
    assert utils.post_with_err_handling(fake_numerai.url, body, {}, timeout=0.2) == {}
    answer = utils.post_with_err_handling(fake_numerai.url, body, {}, timeout=5)
    assert answer == {"data": {"rounds": [{"number": 842}]}}


def test_models_webhooks_and_account(synthetic_data: Path, synthetic_spec: SyntheticSpec) -> None:
    models = {"alpha": MODEL_ID, "beta": "0b5e9f8a-1111-4222-8333-944455556666"}
    saved = numerapi.base_api.API_TOURNAMENT_URL
    with FakeNumerai(synthetic_data, spec=synthetic_spec, models=models) as fake:
        numerapi.base_api.API_TOURNAMENT_URL = fake.url
        try:
            napi = numerapi.NumerAPI(*GOOD_KEYS, show_progress_bars=False)
            assert napi.get_models() == models
            assert napi.set_submission_webhook(MODEL_ID, "https://example.test/pred/x")
            assert fake.webhooks == {MODEL_ID: "https://example.test/pred/x"}
            assert napi.set_submission_webhook(MODEL_ID, None)
            assert fake.webhooks == {}
            assert napi.get_account()["username"] == "fake_user"
            with pytest.raises(ValueError, match="does not belong to this account"):
                napi.set_submission_webhook("11111111-2222-4333-8444-555555555555", "x")
        finally:
            numerapi.base_api.API_TOURNAMENT_URL = saved


def test_unknown_operation_and_field_are_named(api: numerapi.NumerAPI) -> None:
    with pytest.raises(ValueError, match='does not implement query field "v2Leaderboard"'):
        api.get_leaderboard()
    with pytest.raises(ValueError, match='Cannot query field "target" on type "Round"'):
        api.list_rounds()


def test_download_a_submission_back(
    api: numerapi.NumerAPI, fake_numerai: FakeNumerai, predictions: pd.DataFrame, tmp_path: Path
) -> None:
    submission_id = api.upload_predictions(df=predictions, model_id=MODEL_ID)
    path = api.download_submission(submission_id=submission_id, dest_path=str(tmp_path / "s.csv"))
    assert Path(path).read_bytes() == fake_numerai.submissions[0].csv
