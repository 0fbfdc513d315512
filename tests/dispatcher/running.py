"""Run ``python -m dispatcher`` as a real process (what Cloud Run runs) for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from local.sandbox import Children, LocalRunError, start_dispatcher

REPO_ROOT = Path(__file__).resolve().parents[2]
# Cold start is ~1 s; allow for a loaded CI machine.
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0


def base_env(**extra: str) -> dict[str, str]:
    """A clean environment: nothing of the caller's Google or Numerai settings leaks in."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "PYTHONDONTWRITEBYTECODE", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PYTHONUNBUFFERED"] = "1"
    env["LOG_FORMAT"] = "json"
    env.update(extra)
    return env


def run_cli(env: Mapping[str, str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run the dispatcher to completion (startup failures)."""
    return subprocess.run(
        [sys.executable, "-m", "dispatcher"],
        cwd=REPO_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Dispatcher:
    """A running dispatcher process on a free port (``local.sandbox.start_dispatcher``,
    which tries another port if one is taken meanwhile); output captured to a file."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.env = {k: v for k, v in env.items() if k != "PORT"}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.url = ""

    def wait_ready(self) -> None:
        try:
            self.proc, self.port = start_dispatcher(
                self.env, self.log_path, Children(), cwd=REPO_ROOT, timeout=READY_TIMEOUT_S
            )
        except LocalRunError as exc:
            raise RuntimeError(f"{exc}:\n{self.output()}") from None
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> int | None:
        """SIGTERM (as Cloud Run does) and wait for the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
