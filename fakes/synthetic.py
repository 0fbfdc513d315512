"""Deterministic synthetic data shaped like Numerai's v5.3 dataset.

The tests, the local fake Numerai and the offline demo never touch real data: this
module writes files with the same names, layout and types as Numerai's
(``live.parquet``, ``train.parquet``, ``validation.parquet``, ``features.json``,
``live_benchmark_models.parquet``) so the job's real code paths (numerapi download,
polars column selection, predictor, validation) run unchanged.

Layout, as in Numerai's files: ``id`` is a string column stored as the pandas index
(``pandas.read_parquet`` gives index ``id``; polars sees a column ``id``), then ``era``,
``data_type``, the ``feature_*`` columns (int8 in 0..4, a few nulls) and the targets
(float32 in {0, .25, .5, .75, 1}; null in live). ``target`` is a noisy linear
combination of a few *small*-set features, binned like Numerai's targets, so a model
trained on ``train.parquet`` scores positively on ``validation.parquet``.

Generation is vectorised numpy (no per-cell Python): full size (6,720 × 3,555) takes
seconds. Same spec → byte-identical files.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

# The target depends on this many small-set features; a model can learn it.
SIGNAL_FEATURES = 4


@dataclass(frozen=True)
class SyntheticSpec:
    data_version: str = "v5.3"
    live_rows: int = 300
    train_eras: int = 24
    rows_per_era: int = 60
    n_small: int = 6  # feature sets are nested: small ⊂ medium ⊂ all
    n_medium: int = 16
    n_all: int = 40
    missing_fraction: float = 0.01  # a few nulls in features, as real data has
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.n_small <= self.n_medium <= self.n_all:
            raise ValueError(
                f"SyntheticSpec: need 0 < n_small <= n_medium <= n_all, got "
                f"{self.n_small}, {self.n_medium}, {self.n_all}"
            )
        if self.n_small < SIGNAL_FEATURES:
            raise ValueError(f"SyntheticSpec: n_small must be >= {SIGNAL_FEATURES}")
        for name in ("live_rows", "train_eras", "rows_per_era"):
            if getattr(self, name) < 1:
                raise ValueError(f"SyntheticSpec: {name} must be >= 1")
        if not 0.0 <= self.missing_fraction < 1.0:
            raise ValueError("SyntheticSpec: missing_fraction must be in [0, 1)")


# Numerai v5.3 live data: 6,720 rows (v5.2 live.parquet: 6,720 rows); feature sets
# small 42, medium 780, all 2,748 + 807 "quantum" features added in v5.3 = 3,555.
FULL_SIZE = SyntheticSpec(live_rows=6720, n_small=42, n_medium=780, n_all=3555)

# File names as Numerai publishes them under "<data_version>/".
LIVE = "live.parquet"
TRAIN = "train.parquet"
VALIDATION = "validation.parquet"
FEATURES = "features.json"
BENCHMARKS = "live_benchmark_models.parquet"
FILENAMES = (LIVE, TRAIN, VALIDATION, FEATURES, BENCHMARKS)

# Records the spec the files in a directory were made from; reuse only on a match.
STAMP = ".synthetic-spec.json"
# Bump when the generator's output changes, so stale caches are regenerated.
GENERATOR_VERSION = 1

# Numerai's live era label; train/validation eras are zero-padded numbers.
LIVE_ERA = "X"
# Validation gets a quarter as many eras as train (at least one), like Numerai's
# later, smaller validation period.
VALIDATION_ERA_DIVISOR = 4

# Numerai's targets are 5 bins with a bell-shaped distribution: about
# 5% / 20% / 50% / 20% / 5% of each era at 0 / .25 / .5 / .75 / 1.
TARGET_BIN_QUANTILES = (0.05, 0.25, 0.75, 0.95)
# Noise std relative to the signal's std: the learnable part is clear but far from
# perfect (a linear model reaches a correlation around 0.3–0.5 on validation).
TARGET_NOISE = 1.5
# Auxiliary targets: (name, extra noise on top of `target`'s latent value).
AUX_TARGETS = (
    ("target_cyrusd_20", 0.0),  # in v5, `target` is an alias of target_cyrusd_20
    ("target_cyrusd_60", 1.0),
    ("target_ender_20", 1.5),
    ("target_teager2b_20", 2.0),
)
# Benchmark model columns of live_benchmark_models.parquet and their noise levels.
BENCHMARK_MODELS = (
    ("v5_lgbm_ender20", 1.0),
    ("v5_lgbm_cyrusd20", 1.5),
    ("v5_lgbm_teager2b20", 2.0),
)
# Feature values are Numerai's 5 bins.
FEATURE_BINS = 5

# Word lists for realistic-looking names (Numerai's are "feature_<adj>_<noun>").
_ADJECTIVES = [
    "honoured",
    "observational",
    "unnourishing",
    "wistful",
    "ventral",
    "stelar",
    "palatial",
    "coseismic",
    "zincky",
    "frumpy",
    "unsparred",
    "cobaltic",
    "ungilded",
    "mesmeric",
    "autogenous",
    "tinned",
    "lidded",
    "glottic",
    "unreturning",
    "brackish",
    "bimanual",
    "haziest",
    "peptic",
    "gleeful",
    "coky",
    "moralistic",
    "sunstruck",
    "veritable",
    "subdermal",
    "pokey",
]
_NOUNS = [
    "balaamite",
    "haberdasher",
    "sexcentenary",
    "thermodynamics",
    "deuteron",
    "pinniped",
    "trireme",
    "cuneiform",
    "galvanometer",
    "obelus",
    "swingletree",
    "pontoon",
    "barouche",
    "marimba",
    "theodolite",
    "quahog",
    "sandhi",
    "ferrule",
    "gonfalon",
    "reliquary",
    "crannog",
    "tourbillon",
    "epergne",
    "astrolabe",
    "cromlech",
    "mangonel",
    "bollard",
    "lanyard",
]


def feature_names(spec: SyntheticSpec) -> list[str]:
    """``spec.n_all`` unique names like ``feature_wistful_trireme_17``, stable per seed."""
    rng = np.random.default_rng([spec.seed, 1])
    adjectives = rng.integers(0, len(_ADJECTIVES), spec.n_all)
    nouns = rng.integers(0, len(_NOUNS), spec.n_all)
    # The trailing index keeps names unique however many features there are.
    return [
        f"feature_{_ADJECTIVES[a]}_{_NOUNS[n]}_{i}"
        for i, (a, n) in enumerate(zip(adjectives, nouns, strict=True))
    ]


def target_names(spec: SyntheticSpec) -> list[str]:
    return ["target", *(name for name, _ in AUX_TARGETS)]


def feature_metadata(spec: SyntheticSpec) -> dict[str, Any]:
    """The content of ``features.json``: nested feature sets and the target names."""
    names = feature_names(spec)
    # Nested sets drawn from a fixed permutation, so small ⊂ medium ⊂ all but the
    # small features are not simply the first columns.
    order = np.random.default_rng([spec.seed, 2]).permutation(spec.n_all)
    ranked = [names[i] for i in order]
    return {
        "feature_sets": {
            "small": ranked[: spec.n_small],
            "medium": ranked[: spec.n_medium],
            "all": names,
        },
        "targets": target_names(spec),
    }


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

    frames = _generate(spec)
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


def _generate(spec: SyntheticSpec) -> dict[str, pa.Table]:
    """All tables, from one random stream (so the output depends only on the spec)."""
    rng = np.random.default_rng([spec.seed, 3])
    names = feature_names(spec)
    metadata = feature_metadata(spec)
    n_validation_eras = max(1, spec.train_eras // VALIDATION_ERA_DIVISOR)
    n_train = spec.train_eras * spec.rows_per_era
    n_validation = n_validation_eras * spec.rows_per_era
    n_rows = n_train + n_validation + spec.live_rows

    # Features as (n_features, n_rows): each column contiguous for arrow.
    features = rng.integers(0, FEATURE_BINS, size=(spec.n_all, n_rows), dtype=np.int8)
    missing = rng.random(size=features.shape) < spec.missing_fraction

    # The latent signal: a fixed linear combination of a few small-set features,
    # computed on the values before nulls are punched in (missing ≈ a neutral 2).
    index = {name: i for i, name in enumerate(names)}
    signal_cols = [index[n] for n in metadata["feature_sets"]["small"][:SIGNAL_FEATURES]]
    weights = rng.choice([-1.0, 1.0], SIGNAL_FEATURES) * rng.uniform(0.5, 1.0, SIGNAL_FEATURES)
    centred = features[signal_cols].astype(np.float64) - (FEATURE_BINS - 1) / 2
    centred[missing[signal_cols]] = 0.0
    signal = weights @ centred
    latent = signal + rng.normal(0.0, TARGET_NOISE * signal.std(), n_rows)

    era_numbers = np.concatenate(
        [
            np.repeat(np.arange(1, spec.train_eras + 1), spec.rows_per_era),
            np.repeat(
                np.arange(spec.train_eras + 1, spec.train_eras + n_validation_eras + 1),
                spec.rows_per_era,
            ),
        ]
    )
    eras = [f"{e:04d}" for e in era_numbers] + [LIVE_ERA] * spec.live_rows
    data_types = ["train"] * n_train + ["validation"] * n_validation + ["live"] * spec.live_rows
    ids = _ids(rng, n_rows)
    era_array = np.asarray(eras)

    targets = {"target": _bin_per_era(latent, era_array)}
    for name, extra_noise in AUX_TARGETS:
        noisy = latent + rng.normal(0.0, extra_noise * signal.std(), n_rows)
        targets[name] = targets["target"] if extra_noise == 0.0 else _bin_per_era(noisy, era_array)

    live = slice(n_train + n_validation, n_rows)
    benchmarks = {}
    for name, noise in BENCHMARK_MODELS:
        guess = signal[live] + rng.normal(0.0, noise * signal.std(), spec.live_rows)
        # Numerai's benchmark predictions are ranks in (0, 1].
        benchmarks[name] = ((np.argsort(np.argsort(guess)) + 1) / spec.live_rows).astype(np.float32)

    parts = {
        TRAIN: slice(0, n_train),
        VALIDATION: slice(n_train, n_train + n_validation),
        LIVE: live,
    }
    tables = {
        filename: _data_table(
            ids[rows],
            eras[rows],
            data_types[rows],
            names,
            features[:, rows],
            missing[:, rows],
            {k: v[rows] for k, v in targets.items()},
            targets_null=(filename == LIVE),
        )
        for filename, rows in parts.items()
    }
    tables[BENCHMARKS] = _indexed_table(
        ids[live], {name: _arrow_array(values) for name, values in benchmarks.items()}
    )
    return tables


def _ids(rng: np.random.Generator, n: int) -> list[str]:
    """Unique Numerai-looking ids ("n" + 15 hex digits), in shuffled order."""
    space = 16**15
    # An affine map of 0..n-1 with an odd multiplier is a bijection mod 16**15: unique ids.
    multiplier = int(rng.integers(1, space // 2)) * 2 + 1
    offset = int(rng.integers(0, space))
    return [f"n{(i * multiplier + offset) % space:015x}" for i in range(n)]


def _bin_per_era(latent: np.ndarray, eras: np.ndarray) -> np.ndarray:
    """Bin values into {0, .25, .5, .75, 1} by rank within each era, like Numerai's targets."""
    out = np.empty(latent.shape, dtype=np.float32)
    for era in np.unique(eras):
        rows = np.flatnonzero(eras == era)
        ranks = (np.argsort(np.argsort(latent[rows])) + 0.5) / rows.size
        out[rows] = np.searchsorted(TARGET_BIN_QUANTILES, ranks) / 4
    return out


def _arrow_array(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    import pyarrow as pa

    return pa.array(values, mask=mask)


def _data_table(
    ids: list[str],
    eras: list[str],
    data_types: list[str],
    names: list[str],
    features: np.ndarray,
    missing: np.ndarray,
    targets: dict[str, np.ndarray],
    *,
    targets_null: bool,
) -> pa.Table:
    import pyarrow as pa

    columns: dict[str, pa.Array] = {
        "era": pa.array(eras, pa.string()),
        "data_type": pa.array(data_types, pa.string()),
    }
    for i, name in enumerate(names):
        columns[name] = _arrow_array(features[i], missing[i] if missing[i].any() else None)
    for name, values in targets.items():
        columns[name] = pa.nulls(len(ids), pa.float32()) if targets_null else _arrow_array(values)
    return _indexed_table(ids, columns)


def _indexed_table(ids: list[str], columns: dict[str, pa.Array]) -> pa.Table:
    """A table with ``id`` first and pandas metadata naming ``id`` as the index.

    The metadata is what pandas.to_parquet would write; we take it from an empty frame
    of the same dtypes instead of converting the data through pandas (much faster at
    full size, and int8 columns with nulls stay int8 in the file).
    """
    import pandas as pd
    import pyarrow as pa

    table = pa.table({"id": pa.array(ids, pa.string()), **columns})
    skeleton = pd.DataFrame(
        {name: pd.Series([], dtype=_pandas_dtype(col.type)) for name, col in columns.items()},
        index=pd.Index([], dtype=object, name="id"),
    )
    meta = pa.Table.from_pandas(skeleton, preserve_index=True).schema.pandas_metadata
    for column in meta["columns"]:
        if column["pandas_type"] == "empty":  # empty object columns; ours hold strings
            column["pandas_type"] = "unicode"
    return table.replace_schema_metadata({b"pandas": json.dumps(meta).encode()})


def _pandas_dtype(arrow_type: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_string(arrow_type):
        return "object"
    return arrow_type.to_pandas_dtype().__name__
