"""Shared helpers and fixtures for the job's and the predictors' tests.

The job runs in-process (``job.cli.main``) for speed, against the fake Numerai through
the real numerapi; a few tests run ``python -m job`` as a subprocess for real exit codes
and real stdout/stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numerapi.base_api
import pytest

from common.contract import SUMMARY_EVENTS
from common.retry import NO_DELAY
from fakes.numerai import FakeNumerai
from job.cli import main
from predictors.pred1 import train

REPO_ROOT = Path(__file__).resolve().parents[2]
PUBLIC_ID, SECRET_KEY = "FAKEPUBLICID", "FAKESECRETKEY"
MODEL_A = "11111111-1111-4111-8111-111111111111"
MODEL_B = "22222222-2222-4222-8222-222222222222"
MODEL_C = "33333333-3333-4333-8333-333333333333"
UNREGISTERED = "99999999-9999-4999-8999-999999999999"
TRIGGER = "trigger-0001"
# Few trees: the tests need a real CatBoost model, not a good one.
TEST_ITERATIONS = 20
# A GraphQL answer from the local fake takes milliseconds; a hang test waits this long.
TEST_REQUEST_TIMEOUT = 1.0


@dataclass
class JobRun:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def lines(self) -> list[dict[str, Any]]:
        """Every stdout line, parsed as JSON (fails the test if one is not)."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("event") == event]

    def summary(self, model_name: str) -> dict[str, Any]:
        """The one summary line of a model (submitted, failed, skipped or dry_run)."""
        found = [
            line
            for line in self.lines
            if line.get("event") in SUMMARY_EVENTS
            and line.get("logging.googleapis.com/labels", {}).get("model_name") == model_name
        ]
        assert len(found) == 1, f"expected one summary line for {model_name}, got {found}"
        return found[0]


def registry_text(models: Mapping[str, Mapping[str, Any]]) -> str:
    """TOML for ``{name: {"id":…, "predictor":…, "options": {…}}}``."""
    lines = []
    for name, entry in models.items():
        lines += [f"[models.{name}]", f'id = "{entry["id"]}"']
        lines.append(f'predictor = "{entry.get("predictor", "pred1")}"')
        options = entry.get("options") or {}
        if options:
            lines.append(f"[models.{name}.options]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


class JobHarness:
    """A job environment pointed at the fake: data dir, registry, keys, JSON logs."""

    def __init__(self, fake: FakeNumerai, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
        self.fake = fake
        self.tmp_path = tmp_path
        self.capsys = capsys
        self.data_dir = tmp_path / "data"
        self.models_file = tmp_path / "models.toml"

    def register(self, **models: Mapping[str, Any]) -> Path:
        self.models_file.write_text(registry_text(models))
        return self.models_file

    def env(self, **overrides: str | None) -> dict[str, str]:
        env = {
            "NUMERAI_API_URL": self.fake.url,
            "NUMERAI_DATA_DIR": str(self.data_dir),
            "NUMERAI_MODELS_FILE": str(self.models_file),
            "NUMERAI_PUBLIC_ID": PUBLIC_ID,
            "NUMERAI_SECRET_KEY": SECRET_KEY,
            "NUMERAI_REQUEST_TIMEOUT": str(TEST_REQUEST_TIMEOUT),
            "TRIGGER_ID": TRIGGER,
            "LOG_FORMAT": "json",
            # One model after another: the fake's faults hit "the next N requests", which
            # only names a model when the models run in order. tests/job/test_parallel.py
            # runs them at once.
            "NUMERAI_PARALLEL_MODELS": "1",
        }
        env.update(overrides)
        return {k: v for k, v in env.items() if v is not None}

    def run(
        self,
        *argv: str,
        load_predictor: Callable[[str, Mapping[str, Any]], Any] | None = None,
        **env: str | None,
    ) -> JobRun:
        self.capsys.readouterr()  # drop anything printed before
        code = main(list(argv), self.env(**env), retry=NO_DELAY, load_predictor=load_predictor)
        out, err = self.capsys.readouterr()
        return JobRun(code, out, err)

    def run_subprocess(
        self, *argv: str, python: str | Path = sys.executable, **env: str | None
    ) -> JobRun:
        """``python -m job`` (``python``: another environment's interpreter if given)."""
        return self.run_python("-m", "job", *argv, python=python, **env)

    def run_python(
        self, *args: str, python: str | Path = sys.executable, **env: str | None
    ) -> JobRun:
        """``python ARGS`` in the repository, with the job's environment and nothing else."""
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "SYSTEMROOT") if k in os.environ}
        proc = subprocess.run(
            [str(python), *args],
            cwd=REPO_ROOT,
            env={**base, **self.env(**env)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return JobRun(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(autouse=True)
def _restore_numerapi_url() -> Iterator[None]:
    """The job points numerapi's module-level URL at the fake; put it back after each test."""
    saved = numerapi.base_api.API_TOURNAMENT_URL
    yield
    numerapi.base_api.API_TOURNAMENT_URL = saved


@pytest.fixture(scope="session")
def pred1_models(
    tmp_path_factory: pytest.TempPathFactory, synthetic_data: Path, synthetic_spec: Any
) -> dict[str, Path]:
    """Tiny pred1 models per feature set, trained once per session with the real trainer
    (``predictors.pred1.train``) through the fake Numerai."""
    out = tmp_path_factory.mktemp("pred1-models")
    models = {}
    with FakeNumerai(synthetic_data, spec=synthetic_spec) as fake:
        env = {
            "NUMERAI_API_URL": fake.url,
            "NUMERAI_DATA_DIR": str(out / "data"),
            "LOG_FORMAT": "json",
        }
        saved = numerapi.base_api.API_TOURNAMENT_URL
        try:
            for feature_set in ("small", "medium"):
                path = out / f"{feature_set}.cbm"
                argv = ["--feature-set", feature_set, "--iterations", str(TEST_ITERATIONS)]
                assert train.main([*argv, "--output", str(path)], env) == 0
                models[feature_set] = path
        finally:
            numerapi.base_api.API_TOURNAMENT_URL = saved
    return models


@pytest.fixture
def job(
    fake_numerai: FakeNumerai, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> JobHarness:
    return JobHarness(fake_numerai, tmp_path, capsys)


def pred1_entry(model_id: str, model_path: Path, feature_set: str = "medium") -> dict[str, Any]:
    return {
        "id": model_id,
        "predictor": "pred1",
        "options": {"model_path": str(model_path), "feature_set": feature_set},
    }
