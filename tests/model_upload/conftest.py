from __future__ import annotations

from pathlib import Path

import pytest

from tests.job.support import _restore_numerapi_url, job  # noqa: F401
from tests.model_upload import hosted_env


@pytest.fixture(scope="session")
def hosted_pickles(
    tmp_path_factory: pytest.TempPathFactory, synthetic_data: Path
) -> dict[str, hosted_env.HostedPickle]:
    """Numerai's notebooks' pickles, made and run in Numerai's hosted environment
    (tests/model_upload/hosted_env.py), once per session."""
    return hosted_env.build_hosted_pickles(synthetic_data, tmp_path_factory.mktemp("hosted"))


@pytest.fixture(scope="session")
def without_sklearn_python() -> Path:
    """The python of the job's environment less scikit-learn (cached between runs)."""
    return hosted_env.without_sklearn_python()
