"""Writing the dataset files (``write_dataset``), reusing them when the spec matches."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from fakes.synthetic.generate import generate
from fakes.synthetic.names import feature_metadata
from fakes.synthetic.spec import (
    BENCHMARKS,
    FEATURES,
    FILENAMES,
    LIVE,
    TRAIN,
    VALIDATION,
    SyntheticSpec,
)

# Records the spec the files in a directory were made from; reuse only on a match.
STAMP = ".synthetic-spec.json"
# Bump when the generator's output changes, so stale caches are regenerated.
GENERATOR_VERSION = 1


def write_dataset(spec: SyntheticSpec, out_dir: Path) -> dict[str, Path]:
    """Write the dataset files into ``out_dir``; return ``{filename: path}``.

    Idempotent: when the stamp file records the same spec and every file exists, the
    files are reused untouched. Each file is written to a temp file and renamed, so a
    reader never sees half a file (and concurrent writers of the same spec are safe).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / name for name in FILENAMES}
    stamp_path = out_dir / STAMP
    stamp = json.dumps(
        {"generator": GENERATOR_VERSION, "spec": dataclasses.asdict(spec)}, sort_keys=True
    )
    if (
        stamp_path.is_file()
        and stamp_path.read_text() == stamp
        and all(p.is_file() for p in paths.values())
    ):
        return paths
    stamp_path.unlink(missing_ok=True)  # a crash below must not leave a matching stamp

    import pyarrow.parquet as pq

    frames = generate(spec)
    for name in (LIVE, TRAIN, VALIDATION, BENCHMARKS):
        _atomic_write(paths[name], lambda tmp, t=frames[name]: pq.write_table(t, tmp))
    features_json = json.dumps(feature_metadata(spec), indent=2).encode()
    _atomic_write(paths[FEATURES], lambda tmp: Path(tmp).write_bytes(features_json))
    _atomic_write(stamp_path, lambda tmp: Path(tmp).write_text(stamp))
    return paths


def _atomic_write(path: Path, write: Callable[[str], object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
