"""Root fixtures shared by every test package: synthetic Numerai data and the fake API.

Keep this file small: area-specific fixtures belong in that area's conftest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.numerai import FakeNumerai
from fakes.synthetic import SyntheticSpec, write_dataset


@pytest.fixture(scope="session")
def synthetic_spec() -> SyntheticSpec:
    """The default small dataset: 300 live rows, 40 features (small 6 ⊂ medium 16)."""
    return SyntheticSpec()


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory, synthetic_spec: SyntheticSpec) -> Path:
    """A directory holding the small dataset (live/train/validation parquet, features.json,
    live_benchmark_models.parquet), written once per session. Treat it as read-only."""
    out = tmp_path_factory.mktemp("synthetic-data")
    write_dataset(synthetic_spec, out)
    return out


@pytest.fixture
def fake_numerai(synthetic_data: Path, synthetic_spec: SyntheticSpec) -> Iterator[FakeNumerai]:
    """A started FakeNumerai serving that data on 127.0.0.1 (fresh state per test).

    Point numerapi at it with ``numerapi.base_api.API_TOURNAMENT_URL = fake_numerai.url``
    (and restore it), or hand ``fake_numerai.url`` to the job as ``NUMERAI_API_URL``.
    Keys: ``FAKEPUBLICID`` / ``FAKESECRETKEY``.
    """
    with FakeNumerai(synthetic_data, spec=synthetic_spec) as fake:
        yield fake
