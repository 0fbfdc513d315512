"""DISPATCH_MODE=local: the webhook runs the real ``python -m job`` as a subprocess."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.registry import load_registry
from dispatcher.launcher import LaunchRequest
from dispatcher.local import LocalLauncher
from dispatcher.settings import LocalSettings, Settings, SettingsError
from fakes.numerai import FakeNumerai
from fakes.synthetic import SyntheticSpec
from tests.dispatcher.conftest import MODEL_ID, TOKEN, body, pred_url
from tests.dispatcher.running import REPO_ROOT, base_env

# Trees for the test model: enough for non-constant predictions, trained in ~0.1 s.
TRAIN_ITERATIONS = 20
# The job starts in ~1 s (polars, CatBoost, numerapi imports); allow a slow CI box.
EXECUTION_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def numerai(
    tmp_path_factory: pytest.TempPathFactory, synthetic_spec: SyntheticSpec
) -> Iterator[FakeNumerai]:
    with FakeNumerai(tmp_path_factory.mktemp("numerai"), spec=synthetic_spec) as fake:
        yield fake


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, numerai: FakeNumerai) -> Path:
    """A registry whose demo model points at a small pred1 model trained on the fake."""
    work = tmp_path_factory.mktemp("local-model")
    model = work / "pred1.cbm"
    env = base_env(NUMERAI_API_URL=numerai.url, NUMERAI_DATA_DIR=str(work / "data"))
    train = [sys.executable, "-m", "predictors.pred1.train", "--output", str(model)]
    train += ["--feature-set", "medium", "--iterations", str(TRAIN_ITERATIONS)]
    result = subprocess.run(
        train, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    registry = work / "models.toml"
    registry.write_text(
        f'[models.demo_pred1]\nid = "{MODEL_ID}"\npredictor = "pred1"\n'
        f'[models.demo_pred1.options]\nmodel_path = "{model}"\nfeature_set = "medium"\n'
    )
    return registry


def job_env(numerai: FakeNumerai, registry: Path, data_dir: Path) -> dict[str, str]:
    """What the dispatcher's environment hands every local job: a dry run on the fake."""
    return base_env(
        NUMERAI_API_URL=numerai.url,
        NUMERAI_DATA_DIR=str(data_dir),
        NUMERAI_MODELS_FILE=str(registry),
        NUMERAI_DRY_RUN="1",
        WEBHOOK_TOKEN=TOKEN,  # the dispatcher's secret: must not reach the job
    )


async def wait_done(client: Any, name: str, token: str | None = TOKEN) -> dict[str, Any]:
    deadline = time.monotonic() + EXECUTION_TIMEOUT_S
    query = f"?token={token}" if token else ""
    while True:
        resp = await client.get(f"/local/executions/{name}{query}")
        assert resp.status == 200
        record = await resp.json()
        if record["status"] in ("succeeded", "failed"):
            return record
        assert time.monotonic() < deadline, record
        await asyncio.sleep(0.1)


def local_settings(registry: Path, executions: Path, token: str | None = TOKEN) -> Settings:
    return Settings(
        registry=load_registry(registry),
        webhook_token=token,
        backend=LocalSettings(executions_dir=executions),
    )


async def test_webhook_runs_the_real_job_dry_run(
    make_client: Any, numerai: FakeNumerai, trained: Path, tmp_path: Path
) -> None:
    settings = local_settings(trained, tmp_path / "executions")
    data_dir = tmp_path / "data"
    async with LocalLauncher.open(
        settings.backend, environ=job_env(numerai, trained, data_dir)
    ) as launcher:
        client = await make_client(settings, launcher=launcher)
        resp = await client.post(pred_url(), json=body("local-1"))
        assert resp.status == 202
        answer = await resp.json()
        assert answer["execution"].startswith("local-")
        # Answered before the job could have finished: the record is not done yet.
        listing = await (await client.get(f"/local/executions?token={TOKEN}")).json()
        assert [e["execution"] for e in listing["executions"]] == [answer["execution"]]
        record = await wait_done(client, answer["execution"])
        duplicate = await client.post(pred_url(), json=body("local-1"))
        assert duplicate.status == 200

    log_text = Path(record["log"]).read_text()
    assert record["status"] == "succeeded", log_text
    assert record["exit_code"] == 0
    lines = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    done = [line for line in lines if line.get("event") == "dry_run"]
    assert len(done) == 1, log_text
    labels = done[0]["logging.googleapis.com/labels"]
    assert labels["model_id"] == MODEL_ID
    assert labels["trigger_id"] == "local-1"
    predictions = Path(done[0]["output"]).read_text().splitlines()
    assert predictions[0] == "id,prediction"
    assert len(predictions) == 1 + numerai.spec.live_rows
    assert TOKEN not in log_text
    assert numerai.submissions == []  # dry run: nothing uploaded


async def test_failing_job_is_reported_with_its_exit_code(
    make_client: Any, numerai: FakeNumerai, tmp_path: Path
) -> None:
    # The model file does not exist: the job fails that model.
    registry = tmp_path / "models.toml"
    registry.write_text(
        f'[models.demo_pred1]\nid = "{MODEL_ID}"\npredictor = "pred1"\n'
        f'[models.demo_pred1.options]\nmodel_path = "{tmp_path / "missing.cbm"}"\n'
    )
    settings = local_settings(registry, tmp_path / "executions", token=None)
    async with LocalLauncher.open(
        settings.backend, environ=job_env(numerai, registry, tmp_path / "data")
    ) as launcher:
        client = await make_client(settings, launcher=launcher)
        resp = await client.post(pred_url(token=None), json=body("local-fail"))
        assert resp.status == 202  # accepted: the failure happens in the execution
        record = await wait_done(client, (await resp.json())["execution"], token=None)
    assert record["status"] == "failed"
    assert record["exit_code"] in (1, 2)  # the job's "model failed" / "bad configuration"
    assert record["error"] == f"job exited with code {record['exit_code']}"
    assert "missing.cbm" in Path(record["log"]).read_text()


# --- the launcher's own mechanics (a small Python command stands in for the job) -----

PRINT_ENV = (sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))")
SLEEP = (sys.executable, "-c", "import time; time.sleep(30)")


def launch_request(trigger: str = "t") -> LaunchRequest:
    return LaunchRequest(MODEL_ID, "demo_pred1", "numerai-job", "842", trigger, False)


async def wait_status(launcher: LocalLauncher, name: str, *states: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while (record := launcher.execution(name))["status"] not in states:
        assert time.monotonic() < deadline, record
        await asyncio.sleep(0.02)
    return record


async def test_child_gets_parent_env_plus_overrides_without_the_token(tmp_path: Path) -> None:
    parent = {"PATH": "/usr/bin:/bin", "KEEP_ME": "1", "WEBHOOK_TOKEN": TOKEN, "TRIGGER_ID": "old"}
    async with LocalLauncher.open(
        LocalSettings(tmp_path), environ=parent, command=PRINT_ENV
    ) as launcher:
        launched = await launcher.launch(launch_request("t-env"))
        record = await wait_status(launcher, launched.execution, "succeeded", "failed")
    assert record["status"] == "succeeded"
    child = json.loads(Path(record["log"]).read_text())
    assert child["KEEP_ME"] == "1"
    assert "WEBHOOK_TOKEN" not in child
    assert {k: child[k] for k in launch_request().env()} == {
        "NUMERAI_MODEL_ID": MODEL_ID,
        "NUMERAI_ROUND": "842",
        "TRIGGER_ID": "t-env",
        "NUMERAI_IS_TEST": "false",
    }


async def test_concurrency_is_bounded_and_shutdown_stops_everything(tmp_path: Path) -> None:
    async with LocalLauncher.open(
        LocalSettings(tmp_path), environ=base_env(), command=SLEEP, max_concurrent=1
    ) as launcher:
        first = await launcher.launch(launch_request("a"))
        second = await launcher.launch(launch_request("b"))
        await wait_status(launcher, first.execution, "running")
        await asyncio.sleep(0.2)
        assert launcher.execution(second.execution)["status"] == "queued"
        started = time.monotonic()
    # Leaving the context (the dispatcher's cleanup) terminated the running job.
    assert time.monotonic() - started < 10
    running, queued = launcher.execution(first.execution), launcher.execution(second.execution)
    assert running["status"] == "failed"
    assert running["exit_code"] == -15  # SIGTERM
    assert queued["status"] == "failed"
    assert queued["exit_code"] is None
    assert "shut" in queued["error"]


async def test_a_command_that_cannot_start_is_a_failed_execution(tmp_path: Path) -> None:
    async with LocalLauncher.open(
        LocalSettings(tmp_path), environ=base_env(), command=(str(tmp_path / "no-such-binary"),)
    ) as launcher:
        launched = await launcher.launch(launch_request())
        record = await wait_status(launcher, launched.execution, "failed")
    assert record["error"].startswith("cannot start the job")


async def test_executions_dir_that_cannot_be_created_names_the_variable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SettingsError, match="LOCAL_EXECUTIONS_DIR"):
        async with LocalLauncher.open(LocalSettings(blocker / "executions"), environ={}):
            pass


async def test_local_routes_check_the_token_and_unknown_ids(
    make_client: Any, registry_file: Path, tmp_path: Path
) -> None:
    settings = local_settings(registry_file, tmp_path / "executions")
    async with LocalLauncher.open(settings.backend, environ={}) as launcher:
        client = await make_client(settings, launcher=launcher)
        assert (await client.get("/local/executions")).status == 401
        assert (await client.get(f"/local/executions?token={TOKEN}x")).status == 401
        listing = await client.get(f"/local/executions?token={TOKEN}")
        assert listing.status == 200
        assert (await listing.json()) == {"executions": []}
        missing = await client.get(f"/local/executions/local-00000000?token={TOKEN}")
        assert missing.status == 404
        # The token, when set in local mode, is enforced on webhooks too.
        assert (await client.post(pred_url(token=None), json=body())).status == 401


def test_local_mode_settings_from_env(registry_file: Path, tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "DISPATCH_MODE": "local",
            "NUMERAI_MODELS_FILE": str(registry_file),
            "LOCAL_EXECUTIONS_DIR": str(tmp_path / "x"),
        }
    )
    assert settings.mode == "local"
    assert settings.webhook_token is None  # optional in local mode
    assert settings.backend == LocalSettings(executions_dir=tmp_path / "x")
