"""What ``make rehearse`` and ``make demo`` share: a fake Numerai in a subprocess, a
small model made from its synthetic data (pred1, or a stand-in Model-Upload pickle), a
one-model registry pointing at it, and a clean env.

Everything lives in a scratch directory; ``predictors/pred1/model.cbm`` is never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from common.contract import DEFAULT_MODELS_FILE, EXIT_FAILED, TRIGGER_ID_ENV, WEBHOOK_TOKEN_ENV
from common.registry import ModelEntry, load_registry
from local import upload_example

DEMO_MODEL = "demo_pred1"
# Where in the scratch directory the fake writes the synthetic data it serves.
FAKE_DATA_DIR = "fake-data"
# The fake writes its synthetic data first (a second or two), then its URL file.
FAKE_START_TIMEOUT = 60.0
POLL_INTERVAL = 0.05
# Seconds for a child (fake, dispatcher) to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 15.0
HTTP_TIMEOUT = 30.0
# Cold start is about a second; leave room for a slow first run (bytecode, disk cache).
DISPATCHER_START_TIMEOUT = 60.0
# Ports tried before giving up: each is free when chosen, and is only lost to another
# process binding it in the second before the dispatcher does.
PORT_ATTEMPTS = 5
# Trees for the local model: enough to predict something non-constant, trained in
# well under a second on the synthetic data.
LOCAL_MODEL_ITERATIONS = 50
# The keys the fake accepts (its defaults, fakes/numerai/state.py); fake keys for a fake server.
FAKE_PUBLIC_ID = "FAKEPUBLICID"
FAKE_SECRET_KEY = "FAKESECRETKEY"  # noqa: S105
# Variables that would change what a local run does if inherited from the caller's
# shell (a real key, NUMERAI_MODEL_ID=all, a Cloud Run task index …).
_CLEARED_PREFIXES = ("NUMERAI_", "CLOUD_RUN_")
_CLEARED = (TRIGGER_ID_ENV, WEBHOOK_TOKEN_ENV, "DISPATCH_MODE", "PORT", "LOG_FORMAT")


class LocalRunError(Exception):
    """A step of a local run did not work; the message says which."""


class Children:
    """The processes a local run started, stopped together (newest first) on the way out.

    Each is registered the moment it exists — not once it is ready — so a Ctrl-C that
    lands while a child is starting (after it printed its address, say) cannot leave it
    running with nobody to stop it.
    """

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, args: list[str], **popen: Any) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(args, **popen)
        self._procs.append(proc)
        return proc

    def stop_all(self) -> None:
        while self._procs:
            stop(self._procs.pop())


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def show(path: Path) -> str:
    """A path relative to the working directory when it is inside it (shorter to read)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def parse_args(
    prog: str, description: str | None, default_scratch: Path, argv: list[str] | None
) -> tuple[Path, ModelEntry]:
    """The scratch directory (created) and the registry entry a local run is for.

    Raises LocalRunError when the registry has no such model (exit 2 for the caller)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--scratch", type=Path, default=default_scratch, help="working directory")
    parser.add_argument("--models-file", type=Path, default=Path(DEFAULT_MODELS_FILE))
    parser.add_argument("--model", default=DEMO_MODEL, help="registry name of the model to run")
    args = parser.parse_args(argv)
    scratch = args.scratch.resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    return scratch, find_entry(args.models_file, args.model)


def find_entry(models_file: Path, name: str) -> ModelEntry:
    entry = next((m for m in load_registry(models_file).models if m.name == name), None)
    if entry is None:
        raise LocalRunError(f"{models_file} has no [models.{name}]")
    return entry


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _CLEARED and not k.startswith(_CLEARED_PREFIXES)
    }
    env.update(extra)
    return env


def start_fake(scratch: Path, children: Children) -> str:
    """The fake Numerai (a child of ``children``) on a free port; its URL."""
    url_file = scratch / "fake-numerai.url"
    url_file.unlink(missing_ok=True)
    step("starting the fake Numerai")
    proc = children.spawn(
        [
            *(sys.executable, "-m", "fakes.numerai"),
            *("--data-dir", str(scratch / FAKE_DATA_DIR), "--port", "0"),
            *("--url-file", str(url_file)),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + FAKE_START_TIMEOUT
    while not url_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise LocalRunError(f"the fake Numerai did not start (exit code {proc.returncode})")
        time.sleep(POLL_INTERVAL)
    url = url_file.read_text().strip()
    step(f"fake Numerai at {url}")
    return url


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_dispatcher(
    env: Mapping[str, str],
    log_path: Path,
    children: Children,
    *,
    cwd: Path | None = None,
    timeout: float = DISPATCHER_START_TIMEOUT,
) -> tuple[subprocess.Popen[bytes], int]:
    """``python -m dispatcher`` on a free loopback port, once its ``/healthz`` answers.

    A free port is found by binding port 0 and letting it go; until the dispatcher binds
    it, another process may take it (seen with test suites running side by side). The
    dispatcher then exits with EXIT_FAILED ("cannot listen"), and another port is tried.
    Its output goes to ``log_path`` (appended, attempt after attempt)."""
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        with log_path.open("ab") as out:
            offset = out.tell()
            proc = children.spawn(
                [sys.executable, "-m", "dispatcher"],
                env={**env, "PORT": str(port)},
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if _wait_ready(proc, f"http://127.0.0.1:{port}", log_path, offset, timeout):
            return proc, port
    raise LocalRunError(f"the dispatcher found no free port in {PORT_ATTEMPTS} tries")


def _wait_ready(
    proc: subprocess.Popen[bytes], base: str, log_path: Path, offset: int, timeout: float
) -> bool:
    """True once ``/healthz`` answers; False if the port was taken meanwhile (the
    dispatcher's own words, written past ``offset`` of its log, say so)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code == EXIT_FAILED and _port_taken(log_path, offset):
            return False
        if code is not None:
            raise LocalRunError(f"the dispatcher exited with {code}, see {show(log_path)}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):  # noqa: S310 - loopback
                return True
        except (urllib.error.URLError, OSError):
            time.sleep(POLL_INTERVAL)
    stop(proc)
    raise LocalRunError(f"the dispatcher did not answer /healthz within {timeout:.0f} s")


def _port_taken(log_path: Path, offset: int) -> bool:
    with log_path.open("rb") as log:
        log.seek(offset)
        return b"cannot listen" in log.read()


def fetch_submissions(url: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/_fake/submissions", timeout=HTTP_TIMEOUT) as response:  # noqa: S310 - loopback
        return json.load(response)


# The registry option that points each predictor at its local model file.
_MODEL_OPTION = {"pred1": "model_path", "model_upload": "pickle_path"}


def ensure_model(entry: ModelEntry, scratch: Path, env: dict[str, str]) -> Path:
    """A small local model for ``entry``'s predictor, made from the fake's synthetic
    data and kept between runs: a pred1 model, or a stand-in Model-Upload pickle."""
    if entry.predictor == "model_upload":
        return _ensure_upload_pickle(entry, scratch)
    if entry.predictor != "pred1":
        raise LocalRunError(
            f"[models.{entry.name}] uses predictor {entry.predictor!r}: local runs make "
            f"a model for {' and '.join(_MODEL_OPTION)} entries only"
        )
    model_path = scratch / "pred1.cbm"
    if model_path.exists():
        step(f"local model {show(model_path)} (exists)")
        return model_path
    step(f"training a small pred1 model → {show(model_path)}")
    options = entry.options
    command = [
        *(sys.executable, "-m", "predictors.pred1.train", "--output", str(model_path)),
        *("--data-version", str(options.get("data_version", "v5.3"))),
        *("--feature-set", str(options.get("feature_set", "medium"))),
        *("--iterations", str(LOCAL_MODEL_ITERATIONS)),
    ]
    log = scratch / "train.log"
    with log.open("wb") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0 or not model_path.exists():
        raise LocalRunError(f"training failed (exit code {done.returncode}), see {show(log)}")
    return model_path


def _ensure_upload_pickle(entry: ModelEntry, scratch: Path) -> Path:
    own = entry.options.get("pickle_path")
    step(
        f"{entry.name} is a Model-Upload pickle: the fake's data has made-up features, so "
        f"this run uses a stand-in made like Numerai's example notebook (check your own "
        f"with: python -m predictors.model_upload.diagnose {own or 'PKL'})"
    )
    path = scratch / "model_upload.pkl"
    if path.exists():
        step(f"local pickle {show(path)} (exists)")
        return path
    step(f"fitting a LightGBM model and pickling its predict → {show(path)}")
    try:
        return upload_example.build(scratch / FAKE_DATA_DIR, path)
    except (OSError, ValueError, KeyError) as exc:
        raise LocalRunError(f"could not make the stand-in pickle: {exc}") from None


def write_registry(entry: ModelEntry, model_path: Path, scratch: Path) -> Path:
    """A one-model registry: ``entry`` with its model option pointing at the local model."""
    options = {**entry.options, _MODEL_OPTION[entry.predictor]: str(model_path)}
    lines = [
        "# Written by local/sandbox.py: the demo model, pointed at the local model.",
        f"[models.{entry.name}]",
        f"id = {json.dumps(entry.id)}",
        f"predictor = {json.dumps(entry.predictor)}",
        f"[models.{entry.name}.options]",
        *(f"{key} = {json.dumps(value)}" for key, value in options.items()),
    ]
    registry = scratch / "models.toml"
    registry.write_text("\n".join(lines) + "\n")
    return registry
