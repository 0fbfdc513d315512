"""``python -m fakes.numerai``: run the fake Numerai until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import tempfile
import threading
import uuid
from pathlib import Path

from fakes.numerai.fake import FakeNumerai
from fakes.synthetic import FULL_SIZE, SyntheticSpec


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.numerai",
        description="Serve synthetic Numerai data and accept submissions, on 127.0.0.1.",
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="where the dataset is written")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--full-size", action="store_true", help="Numerai-sized live data")
    parser.add_argument("--live-rows", type=int, help="override the number of live rows")
    parser.add_argument("--round", type=int, default=842, help="the current round number")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=ID",
        help="register a model (repeatable); without any, every model id is accepted",
    )
    parser.add_argument("--url-file", type=Path, help="write the URL here once listening")
    args = parser.parse_args(argv)
    for item in args.model:
        name, sep, model_id = item.partition("=")
        if not sep or not name:
            parser.error(f"--model: expected NAME=ID, got {item!r}")
        try:
            uuid.UUID(model_id)
        except ValueError:
            parser.error(f"--model {name}: {model_id!r} is not a UUID")
    if args.live_rows is not None and args.live_rows < 1:
        parser.error("--live-rows must be >= 1")
    if args.round < 1:
        parser.error("--round must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    spec = FULL_SIZE if args.full_size else SyntheticSpec()
    if args.live_rows is not None:
        spec = dataclasses.replace(spec, live_rows=args.live_rows)
    models = dict(item.split("=", 1) for item in args.model)
    fake = FakeNumerai(
        args.data_dir, spec=spec, current_round=args.round, port=args.port, models=models
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with fake:
        if args.url_file is not None:
            _write_atomically(args.url_file, fake.url + "\n")
        print(fake.url, flush=True)
        stop.wait()
    return 0


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
