"""Where the dataset cache keeps a file: ``<data dir>/<data version>[/<round>]/<file>``.

Files that change every round (``live.parquet``, ``features.json`` as the job reads
them) live in a folder per round; files that do not (``train.parquet`` for trainers)
live in the data version's folder. Standard library only: a reader of the cache
(``python -m predictors.model_upload.diagnose``) need not import numerapi.
"""

from __future__ import annotations

from pathlib import Path


def cache_file(root: Path, data_version: str, filename: str, round_num: int | None) -> Path:
    folder = Path(root) / data_version
    if round_num is not None:
        folder = folder / str(round_num)
    return folder / filename


def latest_round_file(root: Path, data_version: str, filename: str) -> tuple[int, Path] | None:
    """The newest round whose folder holds ``filename``, and its path; None if none does."""
    rounds = []
    folder = Path(root) / data_version
    if folder.is_dir():
        for child in folder.iterdir():
            if child.name.isdigit() and (child / filename).is_file():
                rounds.append(int(child.name))
    if not rounds:
        return None
    newest = max(rounds)
    return newest, cache_file(root, data_version, filename, newest)
