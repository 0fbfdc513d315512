"""``python -m predictors.model_upload.diagnose PKL``: will this pickle run here?

Prints what the pickle needs (read without running it, ``pickle_facts``) and what this
environment has, then loads it the way the job does. Exit 0 only when it loads.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from predictors.model_upload.pickle_facts import describe_pickle, describe_runtime, inspect_pickle
from predictors.model_upload.predictor import ModelUploadError, create


def main(argv: Sequence[str] | None = None) -> int:
    """Print what a pickle needs and whether it loads here; exit 0 when it does."""
    parser = argparse.ArgumentParser(
        prog="python -m predictors.model_upload.diagnose",
        description="Check a Numerai Model-Upload pickle against this environment.",
    )
    parser.add_argument("pickle_path", help="the .pkl file")
    args = parser.parse_args(argv)
    path = Path(args.pickle_path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    facts = inspect_pickle(data)
    print(f"{describe_pickle(facts)}")
    print(f"{describe_runtime(facts)}")
    try:
        model = create(str(path))
    except (ModelUploadError, OSError, ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"loads here: predict() takes {model.arity} argument(s) (live features"
        f"{', live benchmark models' if model.arity == 2 else ''})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
