"""What ``make rehearse`` and ``make demo`` share: a fake Numerai in a subprocess, a
small synthetic pred1 model, a one-model registry pointing at it, and a clean env.

Everything lives in a scratch directory; ``predictors/pred1/model.cbm`` is never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from common.registry import DEFAULT_MODELS_FILE, ModelEntry, load_registry

DEMO_MODEL = "demo_pred1"
# The fake writes its synthetic data first (a second or two), then its URL file.
FAKE_START_TIMEOUT = 60.0
POLL_INTERVAL = 0.05
# Seconds for a child (fake, dispatcher) to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 15.0
HTTP_TIMEOUT = 30.0
# Trees for the local model: enough to predict something non-constant, trained in
# well under a second on the synthetic data.
LOCAL_MODEL_ITERATIONS = 50
# The keys the fake accepts (tests/fakes/numerai.py); fake keys for a fake server.
FAKE_PUBLIC_ID = "FAKEPUBLICID"
FAKE_SECRET_KEY = "FAKESECRETKEY"  # noqa: S105
# Variables that would change what a local run does if inherited from the caller's
# shell (a real key, NUMERAI_MODEL_ID=all, a Cloud Run task index …).
_CLEARED_PREFIXES = ("NUMERAI_", "CLOUD_RUN_")
_CLEARED = ("TRIGGER_ID", "WEBHOOK_TOKEN", "DISPATCH_MODE", "PORT", "LOG_FORMAT")


class LocalRunError(Exception):
    """A step of a local run did not work; the message says which."""


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


def start_fake(scratch: Path) -> tuple[subprocess.Popen[bytes], str]:
    url_file = scratch / "fake-numerai.url"
    url_file.unlink(missing_ok=True)
    step("starting the fake Numerai")
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "tests.fakes.numerai"),
            *("--data-dir", str(scratch / "fake-data"), "--port", "0", "--url-file", str(url_file)),
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
    return proc, url


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fetch_submissions(url: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/_fake/submissions", timeout=HTTP_TIMEOUT) as response:  # noqa: S310 - loopback
        return json.load(response)


def ensure_model(entry: ModelEntry, scratch: Path, env: dict[str, str]) -> Path:
    """A small pred1 model trained on the fake's synthetic data (kept between runs)."""
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


def write_registry(entry: ModelEntry, model_path: Path, scratch: Path) -> Path:
    """A one-model registry: ``entry`` with ``model_path`` pointing at the local model."""
    options = {**entry.options, "model_path": str(model_path)}
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
