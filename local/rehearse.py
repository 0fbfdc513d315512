"""``make rehearse``: the job's one-command local run, against the fake Numerai.

Starts the fake (``python -m tests.fakes.numerai``) on a scratch directory, trains a
small pred1 model on its synthetic data unless one is there, writes a registry copy
pointing the demo model at it (``predictors/pred1/model.cbm`` is never touched), runs
``python -m job`` for the demo model with the fake's keys, prints the submission the
fake received, stops the fake and exits with the job's exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from common.registry import DEFAULT_MODELS_FILE, ModelEntry, load_registry

DEFAULT_SCRATCH = Path(".rehearsal")
DEMO_MODEL = "demo_pred1"
# The fake writes its synthetic data first (a second or two), then its URL file.
FAKE_START_TIMEOUT = 60.0
FAKE_POLL_INTERVAL = 0.05
# Seconds for the fake to exit after SIGTERM before it is killed.
FAKE_STOP_TIMEOUT = 10.0
# Trees for the rehearsal model: enough to predict something non-constant, trained in
# well under a second on the synthetic data.
REHEARSAL_ITERATIONS = 50
# The keys the fake accepts (tests/fakes/numerai.py); fake keys for a fake server.
FAKE_PUBLIC_ID = "FAKEPUBLICID"
FAKE_SECRET_KEY = "FAKESECRETKEY"  # noqa: S105


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.rehearse", description=__doc__)
    parser.add_argument("--scratch", type=Path, default=DEFAULT_SCRATCH, help="working directory")
    parser.add_argument("--models-file", type=Path, default=Path(DEFAULT_MODELS_FILE))
    parser.add_argument("--model", default=DEMO_MODEL, help="registry name of the model to run")
    args = parser.parse_args(argv)

    scratch = args.scratch.resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    entry = next((m for m in load_registry(args.models_file).models if m.name == args.model), None)
    if entry is None:
        print(f"error: {args.models_file} has no [models.{args.model}]", file=sys.stderr)
        return 2
    fake, url = start_fake(scratch)
    try:
        env = {
            **os.environ,
            "NUMERAI_API_URL": url,
            "NUMERAI_DATA_DIR": str(scratch / "data"),
        }
        model_path = scratch / "pred1.cbm"
        if not model_path.exists():
            step(f"training a small pred1 model → {model_path}")
            train = [sys.executable, "-m", "predictors.pred1.train", "--output", str(model_path)]
            options = entry.options
            train += ["--data-version", str(options.get("data_version", "v5.3"))]
            train += ["--feature-set", str(options.get("feature_set", "medium"))]
            train += ["--iterations", str(REHEARSAL_ITERATIONS)]
            if subprocess.run(train, env=env, check=False).returncode != 0:
                step("training failed")
                return 1
        registry = scratch / "models.toml"
        registry.write_text(registry_copy(entry, model_path))

        trigger = f"rehearsal-{uuid.uuid4().hex[:8]}"
        step(f"running the job for {entry.name} ({entry.id}), trigger {trigger}")
        env.update(
            NUMERAI_MODELS_FILE=str(registry),
            NUMERAI_MODEL_ID=entry.id,
            TRIGGER_ID=trigger,
            NUMERAI_PUBLIC_ID=FAKE_PUBLIC_ID,
            NUMERAI_SECRET_KEY=FAKE_SECRET_KEY,
        )
        code = subprocess.run([sys.executable, "-m", "job"], env=env, check=False).returncode

        received = [s for s in fetch_submissions(url) if s.get("trigger_id") == trigger]
        if received:
            sub = received[-1]
            step(
                f"the fake received submission {sub['id']}: model {sub['model_id']}, "
                f"{sub['rows']} rows, round {sub['round']}, trigger {sub['trigger_id']}"
            )
        else:
            step("the fake received no submission")
        step(f"job exit code {code}")
        return code if received or code else 1
    finally:
        stop_fake(fake)


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def start_fake(scratch: Path) -> tuple[subprocess.Popen, str]:
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
            stop_fake(proc)
            raise SystemExit(f"error: the fake Numerai did not start (exit code {proc.returncode})")
        time.sleep(FAKE_POLL_INTERVAL)
    url = url_file.read_text().strip()
    step(f"fake Numerai at {url}")
    return proc, url


def stop_fake(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(FAKE_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fetch_submissions(url: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/_fake/submissions", timeout=10) as response:  # noqa: S310 - loopback
        return json.load(response)


def registry_copy(entry: ModelEntry, model_path: Path) -> str:
    """A one-model registry: ``entry`` with ``model_path`` pointing at the rehearsal model."""
    options = {**entry.options, "model_path": str(model_path)}
    lines = [
        "# Written by local/rehearse.py: the demo model, pointed at the rehearsal model.",
        f"[models.{entry.name}]",
        f"id = {json.dumps(entry.id)}",
        f"predictor = {json.dumps(entry.predictor)}",
        f"[models.{entry.name}.options]",
        *(f"{key} = {json.dumps(value)}" for key, value in options.items()),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
