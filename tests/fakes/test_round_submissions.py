"""The fake answers numerapi's "has this model submitted for round N" query, and can
fail just that query (the job's NUMERAI_IF_SUBMITTED=skip check relies on both)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numerapi
import numerapi.base_api
import numpy as np
import pandas as pd
import pytest

from fakes.numerai import CLASSIC_TOURNAMENT, FakeNumerai

MODEL = "5f1a7c2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
OTHER = "6a2b8d3f-4c5e-4f70-9bac-1d2e3f4a5b6c"


@pytest.fixture
def api(fake_numerai: FakeNumerai) -> Iterator[numerapi.NumerAPI]:
    saved = numerapi.base_api.API_TOURNAMENT_URL
    numerapi.base_api.API_TOURNAMENT_URL = fake_numerai.url
    try:
        yield numerapi.NumerAPI("FAKEPUBLICID", "FAKESECRETKEY", show_progress_bars=False)
    finally:
        numerapi.base_api.API_TOURNAMENT_URL = saved


@pytest.fixture
def predictions(synthetic_data: Path) -> pd.DataFrame:
    live = pd.read_parquet(synthetic_data / "live.parquet", columns=["era"])
    return pd.DataFrame({"id": live.index, "prediction": np.arange(1, len(live) + 1) / len(live)})


def test_submission_filenames_of_a_round_list_only_the_selected_one(
    api: numerapi.NumerAPI, fake_numerai: FakeNumerai, predictions: pd.DataFrame
) -> None:
    current = fake_numerai.current_round
    assert api.get_submission_filenames(round_num=current, model_id=MODEL) == []

    api.upload_predictions(df=predictions, model_id=MODEL)
    api.upload_predictions(df=predictions, model_id=MODEL)  # replaces the first

    found = api.get_submission_filenames(
        tournament=CLASSIC_TOURNAMENT, round_num=current, model_id=MODEL
    )
    latest = fake_numerai.submissions[-1]
    assert found == [
        {"round_num": current, "tournament": CLASSIC_TOURNAMENT, "filename": latest.filename}
    ]
    assert api.get_submission_filenames(round_num=current - 1, model_id=MODEL) == []
    assert api.get_submission_filenames(round_num=current, model_id=OTHER) == []


def test_a_5xx_fault_can_target_one_operation(
    api: numerapi.NumerAPI, fake_numerai: FakeNumerai
) -> None:
    fake_numerai.faults.graphql_5xx(1, status=502, op="model")

    assert api.get_current_round() == fake_numerai.current_round  # not the targeted op
    # numerapi swallows the 5xx (retries=1: no retry of its own) and answers {}.
    answer = api.raw_query(
        "query($m: String) { model(modelId: $m) { id } }", {"m": MODEL}, True, retries=1
    )
    assert answer == {}
    assert api.get_submission_filenames(model_id=MODEL) == []  # the fault is used up

    statuses = [(r.graphql_op, r.status) for r in fake_numerai.requests]
    assert statuses == [("rounds", 200), ("model", 502), ("model", 200)]
