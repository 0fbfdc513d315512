"""Fixtures: a recording gcloud first on PATH, and helpers to run the verbs for real.

The verbs run as users run them, in a subprocess: ``python -m ops <verb>`` or
``make <verb> VAR=…``, from the repository root, with the stand-in in front of PATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fakes.cloudrun import FAKE_DOMAIN, FakeCloudRun
from fakes.gcloud import gcloud_env, gcloud_path

REPO = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).with_name("recording_gcloud.py")
PROJECT = "proj-numerai-123"
REGION = "europe-west1"
# Known secret values fed through the environment; no argv and no output may hold them.
PUBLIC_ID = "FAKEPUBLICIDFAKEPUBLICIDFAKEPUB1"
SECRET_KEY = "FAKESECRETKEY" * 4 + "FAKESECRETKEY123"
# Verbs must never hang a test: generous against a slow machine, small against forever.
VERB_TIMEOUT = 60
# Variables of the developer's shell that would change what the verbs do.
_SCRUB = (
    "PROJECT", "REGION", "MODEL", "ROUND", "TRIGGER", "EXECUTION", "DRY_RUN", "REGISTER",
    "NUMERAI_PUBLIC_ID", "NUMERAI_SECRET_KEY", "NUMERAI_MODELS_FILE", "JOB", "LIMIT",
    "SINCE", "FORMAT", "WAIT", "JOB_NAME", "SERVICE_NAME", "REPOSITORY", "MAKEFLAGS",
    "NUMERAI_API_URL", "ROTATE_WEBHOOK_TOKEN", "CATCHUP", "CRON", "IF_SUBMITTED", "EMAIL",
)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class FakeGcloud:
    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "gcloud-calls.jsonl"
        self.state_path = root / "gcloud-state.json"
        script = self.bin / "gcloud"
        # -S: the stand-in is standard library only; skipping site makes each call faster.
        script.write_text(f"#!{sys.executable} -S\n" + STANDIN.read_text(encoding="utf-8"))
        script.chmod(0o755)
        self.log.write_text("")
        # A project where `make release` has deployed the default job.
        self.save({"config": {}, "run_jobs": ["numerai-job"]})

    # -- state -----------------------------------------------------------------------
    def load(self) -> dict[str, Any]:
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def save(self, state: dict[str, Any]) -> None:
        self.state_path.write_text(json.dumps(state), encoding="utf-8")

    def update(self, **values: Any) -> None:
        state = self.load()
        state.update(values)
        self.save(state)

    # -- the record ------------------------------------------------------------------
    def calls(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def argvs(self) -> list[list[str]]:
        return [c["argv"] for c in self.calls()]

    def executes(self) -> list[list[str]]:
        """The `gcloud run jobs execute` calls (rerun checks each job exists first)."""
        return [a for a in self.argvs() if a[:3] == ["run", "jobs", "execute"]]

    def clear(self) -> None:
        self.log.write_text("")

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
        env.update(
            PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}",
            FAKE_GCLOUD_LOG=str(self.log),
            FAKE_GCLOUD_STATE=str(self.state_path),
            OPS_BACKOFF_SECONDS="0",
        )
        env.update(extra)
        return env

    def ops(self, *args: str, stdin: str | None = None, **env: str) -> Run:
        proc = subprocess.run(
            [sys.executable, "-m", "ops", *args],
            cwd=REPO,
            env=self.env(**env),
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=VERB_TIMEOUT,
            check=False,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def make(self, target: str, **variables: str) -> Run:
        proc = subprocess.run(
            ["make", "--no-print-directory", target, *(f"{k}={v}" for k, v in variables.items())],
            cwd=REPO,
            env=self.env(PYTHON=sys.executable),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=VERB_TIMEOUT,
            check=False,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def gcloud(tmp_path: Path) -> FakeGcloud:
    return FakeGcloud(tmp_path)


def via_real_gcloud(fake: FakeCloudRun, scratch: Path) -> dict[str, str]:
    """Environment that makes the stand-in hand ``logging read`` and ``run jobs executions
    list`` to the real gcloud, whose proxy is ``fake`` (its Cloud Run and Logging APIs)."""
    real = gcloud_env(fake, scratch)
    env = {k: v for k, v in real.items() if k.startswith("CLOUDSDK_")}
    env["CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING"] = f"http://logging.{FAKE_DOMAIN}/"
    env["FAKE_GCLOUD_REAL"] = str(gcloud_path())
    return env


def mutating(argvs: list[list[str]]) -> list[list[str]]:
    """The calls that change something (creates, enables, bindings, new versions)."""
    verbs = ("create", "enable", "add-iam-policy-binding", "remove-iam-policy-binding", "add",
             "execute", "cancel", "submit", "update", "disable")
    return [a for a in argvs if any(v in a for v in verbs)]


def iam_grants(argvs: list[list[str]]) -> list[tuple[str, str, str, str]]:
    """(resource kind, resource, member, role) of every IAM binding added."""
    found = []
    for argv in argvs:
        if "add-iam-policy-binding" not in argv:
            continue
        i = argv.index("add-iam-policy-binding")
        member = next(a.split("=", 1)[1] for a in argv if a.startswith("--member="))
        role = next(a.split("=", 1)[1] for a in argv if a.startswith("--role="))
        found.append((" ".join(argv[:i]), argv[i + 1], member, role))
    return found


def write_registry(path: Path, models: dict[str, dict[str, str]]) -> Path:
    lines = []
    for name, fields in models.items():
        lines.append(f"[models.{name}]")
        lines.extend(f'{key} = "{value}"' for key, value in fields.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
