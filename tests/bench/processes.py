"""Process helpers both benchmarks use: a minimal child env, a clean stop, a verdict."""

from __future__ import annotations

import os
import signal
import subprocess

# Seconds a child (fake server, dispatcher) gets to exit after SIGTERM before SIGKILL.
STOP_TIMEOUT_S = 15.0
# What a measured child inherits: nothing that could change its behaviour (no NUMERAI_*,
# no LOG_FORMAT, no credentials); PYTHONDONTWRITEBYTECODE kept so both sides run alike.
_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "PYTHONDONTWRITEBYTECODE", "TMPDIR")


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _KEPT}
    env.update(extra)
    return env


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
