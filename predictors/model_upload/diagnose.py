"""``python -m predictors.model_upload.diagnose PKL``: would the job submit this pickle's
predictions?

Prints what the pickle needs (read without running it, ``pickle_facts``) and what this
environment has, loads it the way the job does, then calls its ``predict`` on a small
live-shaped frame (``live_sample``: ``--live PATH``, else the newest ``live.parquet`` in
the job's dataset cache, else rows synthesised from the data version's
``features.json``) through the job's own predictor code, and checks the output as the
job checks a submission (``predictors.protocol.check_predictions``). Exit 0 only when the
job would submit it; 1 with the cause when it would not; 2 when the input is wrong (no
such file, nothing to build live rows from).

Only diagnose pickles you trust: loading and calling one runs its code.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from common.contract import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from numerai_data import DATA_DIR_ENV, DEFAULT_DATA_DIR
from predictors.model_upload.live_sample import (
    BENCHMARKS_FILE,
    LiveSample,
    NoLiveData,
    find_sample,
)
from predictors.model_upload.pickle_facts import (
    describe_pickle,
    describe_runtime,
    inspect_pickle,
    missing_companions,
)
from predictors.model_upload.predictor import (
    DEFAULT_DATA_VERSION,
    ID_COLUMN,
    ModelUpload,
    ModelUploadError,
    create,
)
from predictors.protocol import InvalidPredictions, check_predictions

# Enough rows to see the function work on a realistic frame, few enough to be quick.
DEFAULT_ROWS = 500
# Lines of the pickled function's traceback shown before the one-line cause.
TRACEBACK_LINES = 12


@dataclass(frozen=True)
class _SampleContext:
    """The job's RoundContext for the rows of a sample (predictors.protocol.PredictContext)."""

    sample: LiveSample
    data_version: str
    scratch: Path

    @property
    def round(self) -> int:
        return self.sample.round

    def dataset(self, filename: str) -> Path:
        if filename != BENCHMARKS_FILE:
            raise ModelUploadError(f"diagnose has no {filename} to give the pickle")
        if self.sample.benchmarks is not None:
            return self.sample.benchmarks
        print(
            f"note: no {BENCHMARKS_FILE} found: predict() gets the live ids without benchmark "
            "columns (pass --benchmarks PATH for real ones)"
        )
        path = self.scratch / BENCHMARKS_FILE
        ids = self.sample.live[ID_COLUMN].to_list()
        pd.DataFrame(index=pd.Index(ids, name=ID_COLUMN)).to_parquet(path)
        return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m predictors.model_upload.diagnose",
        description="Check that the job would submit a Numerai Model-Upload pickle's predictions.",
    )
    parser.add_argument("pickle_path", type=Path, help="the .pkl file")
    parser.add_argument("--live", type=Path, help="a live.parquet to take the rows from")
    parser.add_argument("--benchmarks", type=Path, help="its live_benchmark_models.parquet")
    parser.add_argument("--features", type=Path, help="a features.json to synthesise rows from")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help=f"the job's dataset cache (env {DATA_DIR_ENV}, default {DEFAULT_DATA_DIR})",
    )
    parser.add_argument("--data-version", default=DEFAULT_DATA_VERSION)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="live rows to predict")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Print what a pickle needs and whether the job would submit its predictions."""
    environ = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be ≥ 1")
    try:
        data = args.pickle_path.read_bytes()
    except OSError as exc:
        return _fail(f"cannot read {args.pickle_path}: {exc.strerror}", EXIT_CONFIG)
    facts = inspect_pickle(data)
    print(describe_pickle(facts))
    print(describe_runtime(facts))
    for companion in missing_companions(facts):
        print(f"warning: {companion}")
    try:
        model = create(str(args.pickle_path), args.data_version)
    except (ModelUploadError, OSError, ValueError, TypeError) as exc:
        return _fail(str(exc), EXIT_FAILED)
    print(
        f"loads here: predict() takes {model.arity} argument(s) (live features"
        f"{', live benchmark models' if model.arity == 2 else ''})"
    )
    data_dir = Path(args.data_dir or environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
    try:
        sample = find_sample(
            live=args.live,
            benchmarks=args.benchmarks,
            features=args.features,
            data_dir=data_dir,
            data_version=args.data_version,
            rows=args.rows,
        )
    except NoLiveData as exc:
        return _fail(str(exc), EXIT_CONFIG)
    print(f"calling predict() on {sample.source}")
    return _try_predict(model, sample, args.data_version)


def _try_predict(model: ModelUpload, sample: LiveSample, data_version: str) -> int:
    ids = sample.live[ID_COLUMN]
    with tempfile.TemporaryDirectory(prefix="diagnose-") as scratch:
        context = _SampleContext(sample, data_version, Path(scratch))
        try:
            values = check_predictions(model.predict(sample.live, context), ids)
        except (ModelUploadError, InvalidPredictions) as exc:
            return _fail(f"the job would not submit: {exc}", EXIT_FAILED)
        except Exception as exc:  # the pickled function's own error: show where it was
            shown = traceback.format_exception(exc)[-TRACEBACK_LINES:]
            print("".join(shown).rstrip(), file=sys.stderr)
            return _fail(_raised(exc, sample, data_version), EXIT_FAILED)
    print(
        f"the job would submit: {len(values)} predictions in "
        f"[{values.min():.6g}, {values.max():.6g}]"
    )
    return EXIT_OK


def _raised(exc: Exception, sample: LiveSample, data_version: str) -> str:
    line = f"the job would not submit: predict() raised {type(exc).__name__}: {exc}"
    if isinstance(exc, KeyError) and "synthesised" in sample.source:
        line += (
            f" (the rows were synthesised from a {data_version} features.json: is the "
            "pickle for another data version? see --data-version, --live)"
        )
    return line


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
