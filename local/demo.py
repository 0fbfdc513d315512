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
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from common.contract import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    MODELS_FILE_ENV,
    PUBLIC_ID_ENV,
    ROUND_TEST,
    SECRET_KEY_ENV,
    WEBHOOK_TOKEN_ENV,
)
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
    start_dispatcher,
    start_fake,
    step,
    stop,
    write_registry,
)

DEFAULT_SCRATCH = Path(".demo")
# What a shell reports for a program stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130
# Each execution is a few seconds on the synthetic data (imports, download, predict,
# upload); a generous bound so a slow machine still finishes, a hung job does not hang us.
EXECUTION_TIMEOUT = 300.0
# The dispatcher's output, in the scratch directory.
DISPATCHER_LOG = "dispatcher.log"


def main(argv: list[str] | None = None) -> int:
    try:
        scratch, entry = parse_args("python -m local.demo", __doc__, DEFAULT_SCRATCH, argv)
    except LocalRunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    # SIGTERM (e.g. a CI timeout) cleans up like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    fake = dispatcher = None
    try:
        fake, numerai_url = start_fake(scratch)
        env = clean_env(NUMERAI_API_URL=numerai_url, NUMERAI_DATA_DIR=str(scratch / "data"))
        registry = write_registry(entry, ensure_model(entry, scratch, env), scratch)
        token = secrets.token_urlsafe(24)
        dispatcher, base = _start_dispatcher(env, scratch, registry, token)
        # Said only once `dispatcher` is set: a Ctrl-C right after the line (the tests
        # send one) must find it to stop, or the dispatcher outlives the demo.
        step(f"dispatcher (local mode) at {base}, log {show(scratch / DISPATCHER_LOG)}")
        webhooks = _webhooks(numerai_url)
        executions = _send(f"{base}/pred/{entry.id}?token={token}", webhooks)
        step(f"waiting for {len(executions)} executions")
        finished = _wait_executions(base, token, executions)
        ok = _report(numerai_url, webhooks, finished)
        step(f"logs: {show(scratch)} ({DISPATCHER_LOG}, executions/*.log)")
        step(f"demo {'OK' if ok else 'FAILED'} in {time.monotonic() - started:.1f} s")
        return EXIT_OK if ok else EXIT_FAILED
    except KeyboardInterrupt:
        step("interrupted")
        return EXIT_INTERRUPTED
    except LocalRunError as exc:
        step(f"demo FAILED: {exc}")
        return EXIT_FAILED
    finally:
        if dispatcher is not None:
            stop(dispatcher)
        if fake is not None:
            stop(fake)


def _start_dispatcher(
    env: dict[str, str], scratch: Path, registry: Path, token: str
) -> tuple[subprocess.Popen[bytes], str]:
    """The dispatcher in local mode; each job it starts inherits the fake's keys."""
    env = {
        **env,
        "DISPATCH_MODE": "local",
        WEBHOOK_TOKEN_ENV: token,
        MODELS_FILE_ENV: str(registry),
        "LOCAL_EXECUTIONS_DIR": str(scratch / "executions"),
        "LOG_FORMAT": "json",
        PUBLIC_ID_ENV: FAKE_PUBLIC_ID,
        SECRET_KEY_ENV: FAKE_SECRET_KEY,
    }
    proc, port = start_dispatcher(env, scratch / DISPATCHER_LOG)
    return proc, f"http://127.0.0.1:{port}"


def _webhooks(numerai_url: str) -> dict[str, dict[str, Any]]:
    """What Numerai sends when the round opens, and what its "test" button sends."""
    run_id = uuid.uuid4().hex[:8]
    return {
        "round open": {
            "roundNumber": _current_round(numerai_url),
            "dataVersion": 1,
            "triggerId": f"demo-{run_id}",
        },
        "test button": {
            "roundNumber": ROUND_TEST,
            "dataVersion": 1,
            "triggerId": f"demo-test-{run_id}",
            "isTest": True,
        },
    }


def _send(url: str, webhooks: dict[str, dict[str, Any]]) -> list[str]:
    """POST each webhook (each must be accepted), then the first one again (a repeated
    delivery: the same execution, nothing new runs); the executions started."""
    executions = []
    for label, payload in webhooks.items():
        status, answer = _post(url, payload)
        step(f"{label} webhook {json.dumps(payload)}")
        step(f"  → {status} {json.dumps(answer)}")
        if status != 202:
            raise LocalRunError(f"the dispatcher refused the {label} webhook")
        executions.append(answer["execution"])
    status, answer = _post(url, webhooks["round open"])
    again = answer.get("execution")
    step(f"the round-open webhook again → {status}, execution {again} (no second run)")
    return executions


def _report(
    numerai_url: str, webhooks: dict[str, dict[str, Any]], finished: list[dict[str, Any]]
) -> bool:
    """Print each execution and what the fake received; True if every webhook submitted."""
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
    return {s["trigger_id"] for s in received} == triggers and all(
        r["status"] == "succeeded" for r in finished
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
