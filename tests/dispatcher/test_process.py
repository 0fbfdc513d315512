"""``python -m dispatcher`` as a process: startup errors, logs, SIGTERM, imports."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.cloudrun import FakeCloudRun
from local.sandbox import free_port
from tests.dispatcher.conftest import MODEL_ID, PROJECT, REGION, TOKEN, body
from tests.dispatcher.running import REPO_ROOT, Dispatcher, base_env, run_cli


def cloud_env(
    registry_file: Path, fake: FakeCloudRun | None = None, **extra: str
) -> dict[str, str]:
    env = base_env(
        DISPATCH_MODE="cloudrun",
        WEBHOOK_TOKEN=TOKEN,
        GOOGLE_CLOUD_PROJECT=PROJECT,
        CLOUD_RUN_REGION=REGION,
        NUMERAI_MODELS_FILE=str(registry_file),
        PORT=str(free_port()),
    )
    if fake is not None:
        env["CLOUD_RUN_API_ENDPOINT"] = fake.url
    env.update(extra)
    return env


def post(url: str, payload: Any, timeout: float = 30.0) -> tuple[int, dict[str, Any]]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# --- startup failures -------------------------------------------------------------


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_missing_webhook_token_fails_startup(registry_file: Path) -> None:
    env = cloud_env(registry_file)
    del env["WEBHOOK_TOKEN"]
    assert "WEBHOOK_TOKEN is required" in _one_line_error(run_cli(env))


def test_malformed_registry_fails_startup_naming_file_and_entry(tmp_path: Path) -> None:
    bad = tmp_path / "models.toml"
    bad.write_text('[models.broken]\nid = "not-a-uuid"\npredictor = "pred1"\n')
    line = _one_line_error(run_cli(cloud_env(bad)))
    assert str(bad) in line
    assert "[models.broken]" in line


def test_missing_registry_fails_startup(tmp_path: Path) -> None:
    line = _one_line_error(run_cli(cloud_env(tmp_path / "absent.toml")))
    assert "NUMERAI_MODELS_FILE" in line


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"GOOGLE_CLOUD_PROJECT": ""}, "GOOGLE_CLOUD_PROJECT"),
        ({"CLOUD_RUN_REGION": ""}, "CLOUD_RUN_REGION"),
        ({"CLOUD_RUN_REGION": "Europe West"}, "CLOUD_RUN_REGION"),
        ({"CLOUD_RUN_JOB": "Bad_Job"}, "CLOUD_RUN_JOB"),
        ({"CLOUD_RUN_API_ENDPOINT": "ftp://x"}, "CLOUD_RUN_API_ENDPOINT"),
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"DISPATCH_MODE": "lambda"}, "DISPATCH_MODE"),
        ({"WEBHOOK_TOKEN": "short"}, "WEBHOOK_TOKEN"),
        ({"WEBHOOK_TOKEN": TOKEN + "\n"}, "WEBHOOK_TOKEN ends with a newline"),
        ({"WEBHOOK_TOKEN": TOKEN[:8] + " " + TOKEN[8:]}, "WEBHOOK_TOKEN holds whitespace"),
        ({"WEBHOOK_TOKEN": TOKEN + "\x07"}, "WEBHOOK_TOKEN holds whitespace or control"),
        ({"WEBHOOK_TOKEN_PREVIOUS": "short"}, "WEBHOOK_TOKEN_PREVIOUS"),
        ({"WEBHOOK_TOKEN_PREVIOUS": TOKEN + "\r\n"}, "WEBHOOK_TOKEN_PREVIOUS ends with"),
        ({"WEBHOOK_TOKEN": "", "WEBHOOK_TOKEN_PREVIOUS": TOKEN}, "without WEBHOOK_TOKEN"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ],
)
def test_bad_setting_fails_startup_naming_the_variable(
    registry_file: Path, change: dict[str, str], named: str
) -> None:
    line = _one_line_error(run_cli(cloud_env(registry_file, **change)))
    assert named in line
    assert TOKEN not in line


def test_no_google_credentials_fails_startup_cleanly(registry_file: Path, tmp_path: Path) -> None:
    # Real API mode with no ADC anywhere: a clear line, not a traceback.
    env = cloud_env(
        registry_file,
        HOME=str(tmp_path),
        GOOGLE_APPLICATION_CREDENTIALS=str(tmp_path / "none.json"),
        GCE_METADATA_HOST="127.0.0.1:9",  # nothing listens: not on GCE
        GCE_METADATA_IP="127.0.0.1:9",
        CLOUDSDK_CONFIG=str(tmp_path / "gcloud"),
    )
    line = _one_line_error(run_cli(env))
    assert "credentials" in line


def test_port_in_use_fails_with_one_line(registry_file: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        env = cloud_env(
            registry_file,
            CLOUD_RUN_API_ENDPOINT="http://127.0.0.1:9",
            PORT=str(taken.getsockname()[1]),
        )
        result = run_cli(env)
    assert result.returncode == 1
    assert "cannot listen" in result.stderr


# --- a running dispatcher -----------------------------------------------------------


def _listening_hosts(port: int) -> set[str]:
    """The addresses sockets listen on for ``port``, read from the kernel's table."""
    hosts = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            hosts.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return hosts


@pytest.mark.parametrize(
    ("listen_host", "expected"),
    [(None, "127.0.0.1"), ("0.0.0.0", "0.0.0.0")],  # local mode: loopback unless told
)
def test_local_mode_listens_on_loopback_unless_told(
    registry_file: Path, tmp_path: Path, listen_host: str | None, expected: str
) -> None:
    env = base_env(
        DISPATCH_MODE="local",
        NUMERAI_MODELS_FILE=str(registry_file),
        LOCAL_EXECUTIONS_DIR=str(tmp_path / "executions"),
        **({"LISTEN_HOST": listen_host} if listen_host else {}),
    )
    proc = Dispatcher(env, tmp_path / "dispatcher.log")
    try:
        proc.wait_ready()
        assert _listening_hosts(proc.port) == {expected}
    finally:
        proc.stop()


@pytest.fixture
def fake() -> Iterator[FakeCloudRun]:
    with FakeCloudRun(project=PROJECT, region=REGION) as fake:
        yield fake


@pytest.fixture
def dispatcher(registry_file: Path, fake: FakeCloudRun, tmp_path: Path) -> Iterator[Dispatcher]:
    proc = Dispatcher(cloud_env(registry_file, fake), tmp_path / "dispatcher.log")
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def test_a_webhook_line_is_written_while_the_dispatcher_runs(dispatcher: Dispatcher) -> None:
    # Lines are batched (dispatcher/logbuffer.py), not held until exit.
    status, _ = post(f"{dispatcher.url}/pred/{MODEL_ID}?token={TOKEN}", body("batched"))
    assert status == 202
    deadline = time.monotonic() + 5
    while '"trigger_id": "batched"' not in dispatcher.output():
        assert time.monotonic() < deadline, dispatcher.output()
        time.sleep(0.05)


def test_cloud_run_mode_listens_on_every_interface(dispatcher: Dispatcher) -> None:
    # Cloud Run routes requests to the container's interface, not to its loopback.
    assert _listening_hosts(dispatcher.port) == {"0.0.0.0"}


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_one_log_line_per_webhook_and_the_token_is_never_logged(
    dispatcher: Dispatcher, fake: FakeCloudRun
) -> None:
    url = f"{dispatcher.url}/pred/{MODEL_ID}"
    assert post(f"{url}?token={TOKEN}", body("log-1"))[0] == 202
    assert post(f"{url}?token={TOKEN}", body("log-1"))[0] == 200
    assert post(f"{url}?token={TOKEN}", {"roundNumber": "x"})[0] == 422
    assert post(f"{url}?token={TOKEN}x", body("log-2"))[0] == 401
    fake.fail_next(3, status=503)
    assert post(f"{url}?token={TOKEN}", body("log-3"))[0] == 503
    # A malformed request line carrying the token: aiohttp logs it, URL and all.
    with socket.create_connection(("127.0.0.1", dispatcher.port), timeout=5) as raw:
        raw.sendall(f"POST /pred/{MODEL_ID}?token={TOKEN}\x01 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        raw.recv(1024)
    assert dispatcher.stop() == 0

    output = dispatcher.output()
    assert TOKEN not in output
    assert "token=[redacted]" in output  # the malformed line was logged, masked
    lines = _json_lines(output)  # every line is JSON
    hooks = [line for line in lines if line.get("event") == "webhook"]
    assert [h["status"] for h in hooks] == [202, 200, 422, 401, 503]
    first = hooks[0]
    assert first["logging.googleapis.com/labels"] == {
        "model_id": MODEL_ID,
        "round": "842",
        "trigger_id": "log-1",
    }
    assert first["execution"] == fake.runs[0].execution_name.rsplit("/", 1)[1]
    assert isinstance(first["latency_ms"], float)
    assert first["severity"] == "INFO"
    assert hooks[2]["field"] == "roundNumber"
    assert hooks[4]["severity"] == "ERROR"
    assert not any(line.get("logger") == "aiohttp.access" for line in lines)


def test_sigterm_lets_an_in_flight_webhook_finish(
    registry_file: Path, fake: FakeCloudRun, tmp_path: Path
) -> None:
    fake.latency = 1.5  # the RunJob call is still running when SIGTERM arrives
    proc = Dispatcher(cloud_env(registry_file, fake), tmp_path / "dispatcher.log")
    try:
        proc.wait_ready()
        answer: dict[str, Any] = {}

        def send() -> None:
            answer["result"] = post(f"{proc.url}/pred/{MODEL_ID}?token={TOKEN}", body("inflight"))

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.5)
        assert len(fake.runs) == 0  # still in flight
        proc.proc.send_signal(signal.SIGTERM)
        sender.join(timeout=20)
        status, payload = answer["result"]
        assert status == 202
        assert payload["execution_name"] == fake.runs[0].execution_name
        assert proc.proc.wait(timeout=20) == 0
    finally:
        proc.stop()


HEAVY = ("job", "polars", "catboost", "numerapi", "pandas")

IMPORT_CHECK = """
import asyncio, json, sys
from aiohttp.test_utils import TestClient, TestServer
from common.registry import load_registry
from dispatcher.app import create_app
from dispatcher.settings import Settings
from fakes.cloudrun import FakeCloudRun

async def main():
    registry = sys.argv[1]
    with FakeCloudRun() as fake:
        env = {{"WEBHOOK_TOKEN": "{token}", "GOOGLE_CLOUD_PROJECT": "test-project",
               "CLOUD_RUN_REGION": "europe-west1", "CLOUD_RUN_API_ENDPOINT": fake.url,
               "NUMERAI_MODELS_FILE": registry, "DISPATCH_MODE": sys.argv[2],
               "LOCAL_EXECUTIONS_DIR": sys.argv[3]}}
        async with TestClient(TestServer(create_app(Settings.from_env(env)))) as client:
            assert (await client.get("/healthz")).status == 200
            if sys.argv[2] == "cloudrun":
                resp = await client.post("/pred/{model}?token={token}",
                    json={{"roundNumber": 1, "dataVersion": 1, "triggerId": "t"}})
                assert resp.status == 202, await resp.text()
    print(json.dumps(sorted(sys.modules)))

asyncio.run(main())
"""


@pytest.mark.parametrize("mode", ["cloudrun", "local"])
def test_dispatcher_never_imports_the_job_stack(
    registry_file: Path, tmp_path: Path, mode: str
) -> None:
    script = IMPORT_CHECK.format(token=TOKEN, model=MODEL_ID)
    result = subprocess.run(
        [sys.executable, "-c", script, str(registry_file), mode, str(tmp_path / "executions")],
        cwd=REPO_ROOT,
        env=base_env(PYTHONPATH=str(REPO_ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    modules = set(json.loads(result.stdout.strip().splitlines()[-1]))
    loaded = {m for m in modules if m.split(".")[0] in HEAVY}
    assert loaded == set()
    # Local mode (and /healthz) must not pay for the Cloud Run client either.
    assert ("google.cloud.run_v2" in modules) == (mode == "cloudrun")
