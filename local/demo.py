"""``make demo``: the whole system, offline, in one command.

Starts the fake Numerai with a synthetic round, makes sure a small demo pred1 model
exists, starts the dispatcher in local mode (``DISPATCH_MODE=local``: each webhook runs
``python -m job`` as a subprocess), sends the webhook Numerai sends when a round opens
and the one its "test" button sends, waits for both executions, prints the submissions
the fake received and where the logs are, and stops everything (also on failure or
Ctrl-C). Exit code 0 only if both submissions arrived.

What it shares with `make rehearse` lives in local/sandbox.py.
"""

from __future__ import annotations

import json
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from local.sandbox import (
    FAKE_PUBLIC_ID,
    FAKE_SECRET_KEY,
    HTTP_TIMEOUT,
    POLL_INTERVAL,
    LocalRunError,
    clean_env,
    ensure_model,
    fetch_submissions,
    parse_args,
    show,
    start_fake,
    step,
    stop,
    write_registry,
)

DEFAULT_SCRATCH = Path(".demo")
# Cold start is about a second; leave room for a slow first run (bytecode, disk cache).
DISPATCHER_START_TIMEOUT = 60.0
# Each execution is a few seconds on the synthetic data (imports, download, predict,
# upload); a generous bound so a slow machine still finishes, a hung job does not hang us.
EXECUTION_TIMEOUT = 300.0


def main(argv: list[str] | None = None) -> int:
    try:
        scratch, entry = parse_args("python -m local.demo", __doc__, DEFAULT_SCRATCH, argv)
    except LocalRunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # SIGTERM (e.g. a CI timeout) cleans up like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    fake = dispatcher = None
    try:
        fake, numerai_url = start_fake(scratch)
        env = clean_env(
            NUMERAI_API_URL=numerai_url,
            NUMERAI_DATA_DIR=str(scratch / "data"),
        )
        model_path = ensure_model(entry, scratch, env)
        registry = write_registry(entry, model_path, scratch)

        token = secrets.token_urlsafe(24)
        port = _free_port()
        env.update(
            DISPATCH_MODE="local",
            PORT=str(port),
            WEBHOOK_TOKEN=token,
            NUMERAI_MODELS_FILE=str(registry),
            LOCAL_EXECUTIONS_DIR=str(scratch / "executions"),
            LOG_FORMAT="json",
            # Inherited by each job the dispatcher starts: the fake's keys.
            NUMERAI_PUBLIC_ID=FAKE_PUBLIC_ID,
            NUMERAI_SECRET_KEY=FAKE_SECRET_KEY,
        )
        dispatcher_log = scratch / "dispatcher.log"
        dispatcher = _start_dispatcher(env, dispatcher_log)
        base = f"http://127.0.0.1:{port}"
        _wait_ready(dispatcher, base, dispatcher_log)
        step(f"dispatcher (local mode) at {base}, log {show(dispatcher_log)}")

        url = f"{base}/pred/{entry.id}?token={token}"
        run_id = uuid.uuid4().hex[:8]
        webhooks = {
            "round open": {
                "roundNumber": _current_round(numerai_url),
                "dataVersion": 1,
                "triggerId": f"demo-{run_id}",
            },
            "test button": {
                "roundNumber": "test",
                "dataVersion": 1,
                "triggerId": f"demo-test-{run_id}",
                "isTest": True,
            },
        }
        executions: dict[str, dict[str, Any]] = {}
        for label, payload in webhooks.items():
            status, answer = _post(url, payload)
            step(f"{label} webhook {json.dumps(payload)}")
            step(f"  → {status} {json.dumps(answer)}")
            if status != 202:
                step(f"the dispatcher refused the {label} webhook")
                return 1
            executions[answer["execution"]] = payload
        # Numerai may deliver a webhook twice: the same trigger gets the same execution.
        first = webhooks["round open"]
        status, answer = _post(url, first)
        again = answer.get("execution")
        step(f"the round-open webhook again → {status}, execution {again} (no second run)")

        step(f"waiting for {len(executions)} executions")
        finished = _wait_executions(base, token, list(executions))
        for record in finished:
            step(
                f"{record['execution']} {record['status']} (exit code {record['exit_code']}), "
                f"log {show(Path(record['log']))}"
            )

        triggers = {payload["triggerId"] for payload in webhooks.values()}
        received = [s for s in fetch_submissions(numerai_url) if s.get("trigger_id") in triggers]
        step(f"the fake Numerai received {len(received)} submission(s):")
        for sub in received:
            print(
                f"    {sub['id']}  model {sub['model_id']}  round {sub['round']}  "
                f"{sub['rows']} rows  trigger {sub['trigger_id']}",
                flush=True,
            )
        ok = {s["trigger_id"] for s in received} == triggers and all(
            r["status"] == "succeeded" for r in finished
        )
        step(f"logs: {show(scratch)} (dispatcher.log, executions/*.log)")
        step(f"demo {'OK' if ok else 'FAILED'} in {time.monotonic() - started:.1f} s")
        return 0 if ok else 1
    except KeyboardInterrupt:
        step("interrupted")
        return 130
    except LocalRunError as exc:
        step(f"demo FAILED: {exc}")
        return 1
    finally:
        if dispatcher is not None:
            stop(dispatcher)
        if fake is not None:
            stop(fake)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_dispatcher(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dispatcher"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_ready(proc: subprocess.Popen[bytes], base: str, log_path: Path) -> None:
    deadline = time.monotonic() + DISPATCHER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalRunError(f"the dispatcher exited with {proc.returncode}, see {log_path}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):  # noqa: S310 - loopback
                return
        except (urllib.error.URLError, OSError):
            time.sleep(POLL_INTERVAL)
    raise LocalRunError(
        f"the dispatcher did not answer /healthz within {DISPATCHER_START_TIMEOUT:.0f} s"
    )


def _current_round(numerai_url: str) -> int:
    """The fake's open round, asked the way numerapi asks (a GraphQL POST)."""
    query = {"query": "query { rounds(tournament: 8, number: 0) { number } }"}
    status, answer = _post(numerai_url, query)
    try:
        return int(answer["data"]["rounds"][0]["number"])
    except (KeyError, IndexError, TypeError, ValueError):
        raise LocalRunError(
            f"the fake Numerai did not report its round ({status}: {answer})"
        ) from None


def _post(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - loopback
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read())


def _wait_executions(base: str, token: str, names: list[str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + EXECUTION_TIMEOUT
    while True:
        records = [_get(f"{base}/local/executions/{name}?token={token}") for name in names]
        if all(r["status"] in ("succeeded", "failed") for r in records):
            return records
        if time.monotonic() > deadline:
            raise LocalRunError(
                f"executions not finished after {EXECUTION_TIMEOUT:.0f} s: {records}"
            )
        time.sleep(POLL_INTERVAL)


if __name__ == "__main__":
    sys.exit(main())
