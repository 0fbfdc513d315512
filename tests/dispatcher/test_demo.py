"""``make demo`` (local/demo.py) end to end: fake Numerai, dispatcher, two real jobs."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.dispatcher.running import REPO_ROOT, base_env

DEMO_TIMEOUT_S = 240.0


def demo(scratch: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "local.demo", "--scratch", str(scratch), *args],
        cwd=REPO_ROOT,
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_demo_submits_both_webhooks_and_exits_0(tmp_path: Path) -> None:
    proc = demo(tmp_path / "demo")
    out, _ = proc.communicate(timeout=DEMO_TIMEOUT_S)
    assert proc.returncode == 0, out
    assert "demo OK" in out
    assert "received 2 submission(s)" in out
    triggers = set(re.findall(r"trigger (demo-\S+)", out))
    assert len(triggers) == 2 and any(t.startswith("demo-test-") for t in triggers), out
    assert "→ 200" in out  # the duplicate delivery launched nothing
    logs = list((tmp_path / "demo" / "executions").glob("local-*.log"))
    assert len(logs) == 2
    dispatcher_log = (tmp_path / "demo" / "dispatcher.log").read_text()
    assert dispatcher_log.count('"event": "webhook"') == 3
    # The demo's webhook token is random: no output or log may carry it.
    for text in (out, dispatcher_log, *(log.read_text() for log in logs)):
        assert "token=" not in text


def test_demo_with_an_unknown_model_exits_2(tmp_path: Path) -> None:
    proc = demo(tmp_path / "demo", "--model", "nope")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "[models.nope]" in out


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_ctrl_c_stops_everything(tmp_path: Path) -> None:
    proc = demo(tmp_path / "demo")
    assert proc.stdout is not None
    ports: list[int] = []
    seen: list[str] = []
    deadline = time.monotonic() + DEMO_TIMEOUT_S
    for line in proc.stdout:
        seen.append(line)
        ports += [int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)", line)]
        if "dispatcher (local mode)" in line:
            break
        assert time.monotonic() < deadline
    assert len(ports) == 2, "".join(seen)  # the fake Numerai's and the dispatcher's
    # Ctrl-C as soon as the dispatcher said where it listens: it is still being handed
    # back to the demo, which must stop it all the same.
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted" in out
    assert not any(_port_open(p) for p in ports)
