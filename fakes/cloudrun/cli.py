"""``python -m fakes.cloudrun``: run the Cloud Run fake until SIGTERM (or Ctrl-C)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path

from fakes.cloudrun.fake import FakeCloudRun


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.cloudrun", description="Fake Cloud Run Admin API."
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each :run waits")
    parser.add_argument("--url-file", type=Path, help="write the base URL here once listening")
    parser.add_argument("--project", default="test-project")
    parser.add_argument("--region", default="europe-west1")
    parser.add_argument(
        "--job", action="append", dest="jobs", help="a job name (repeatable; default numerai-job)"
    )
    parser.add_argument(
        "--execution-seconds",
        type=float,
        default=None,
        help="executions succeed this long after they start (default: never)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)
    fake = FakeCloudRun(
        project=args.project,
        region=args.region,
        jobs=args.jobs or ("numerai-job",),
        latency=args.latency,
        port=args.port,
        execution_seconds=args.execution_seconds,
        verbose=not args.quiet,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with fake:
        if args.url_file:
            _write_atomically(args.url_file, fake.url + "\n")
        print(f"fake Cloud Run listening on {fake.url}", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0
