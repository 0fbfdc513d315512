"""Fixtures for the dispatcher's tests: a registry, settings, the Cloud Run fake."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from common.contract import DEFAULT_JOB
from common.registry import Registry, load_registry
from dispatcher.app import create_app
from dispatcher.launcher import Launched, LaunchRequest
from dispatcher.settings import CloudRunSettings, RetryPolicy, Settings
from fakes.cloudrun import FakeCloudRun

TOKEN = "test-webhook-token-0123456789abcdef"
MODEL_ID = "5f1a7c2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
# A second model that runs on its own Cloud Run job (the registry's `job`).
OTHER_MODEL_ID = "0b5e9f8a-1111-4222-8333-944455556666"
OTHER_JOB = "numerai-job-gpu"
UNKNOWN_MODEL_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
PROJECT, REGION = "test-project", "europe-west1"

REGISTRY_TOML = f"""
[models.demo_pred1]
id = "{MODEL_ID}"
predictor = "pred1"

[models.big_model]
id = "{OTHER_MODEL_ID}"
predictor = "pred1"
job = "{OTHER_JOB}"
"""

# No waiting between retries in tests; short call timeout so a hang is seen quickly.
FAST_RETRY = RetryPolicy(attempts=3, backoff_s=0.0, call_timeout_s=1.0, budget_s=3.0)


def body(trigger: str = "trigger-1", round_number: Any = 842, **extra: Any) -> dict[str, Any]:
    return {"roundNumber": round_number, "dataVersion": 1, "triggerId": trigger, **extra}


def pred_url(model_id: str = MODEL_ID, token: str | None = TOKEN) -> str:
    return f"/pred/{model_id}" + (f"?token={token}" if token is not None else "")


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(REGISTRY_TOML)
    return path


@pytest.fixture
def registry(registry_file: Path) -> Registry:
    return load_registry(registry_file)


@pytest.fixture
def fake_cloud_run() -> Iterator[FakeCloudRun]:
    with FakeCloudRun(project=PROJECT, region=REGION, jobs=("numerai-job", OTHER_JOB)) as fake:
        yield fake


@pytest.fixture
def cloud_settings(registry: Registry, fake_cloud_run: FakeCloudRun) -> Settings:
    return Settings(
        registry=registry,
        webhook_token=TOKEN,
        backend=CloudRunSettings(
            project=PROJECT, region=REGION, api_endpoint=fake_cloud_run.url, retry=FAST_RETRY
        ),
    )


class RecordingLauncher:
    """A Launcher for pure HTTP-validation tests: records requests, scripted outcome."""

    def __init__(self, delay: float = 0.0) -> None:
        self.requests: list[LaunchRequest] = []
        self.delay = delay
        self.errors: list[Exception] = []

    async def launch(self, request: LaunchRequest) -> Launched:
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.errors:
            raise self.errors.pop(0)
        job = request.job or DEFAULT_JOB  # what a real launcher falls back to
        short = f"{job}-{len(self.requests):05d}"
        return Launched(short, f"projects/p/locations/l/jobs/{job}/executions/{short}")


@pytest.fixture
async def make_client() -> Any:
    """Start the app in-process (aiohttp test server on loopback) and return a client."""
    clients: list[TestClient] = []

    async def make(settings: Settings, **kwargs: Any) -> TestClient:
        # access_log=None as in production: aiohttp's access log prints the query string.
        client = TestClient(TestServer(create_app(settings, **kwargs), access_log=None))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
