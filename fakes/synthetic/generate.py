"""The numbers: features, a learnable target, benchmark predictions, ids and eras.

Everything comes from one random stream seeded by the spec, drawn in a fixed order,
so the output depends only on the spec (same spec → byte-identical files). Changing
what is drawn, or in which order, changes the files: bump ``GENERATOR_VERSION``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fakes.synthetic.names import AUX_TARGETS, feature_metadata, feature_names
from fakes.synthetic.spec import (
    BENCHMARKS,
    LIVE,
    SIGNAL_FEATURES,
    TRAIN,
    VALIDATION,
    SyntheticSpec,
)
from fakes.synthetic.tables import arrow_array, data_table, indexed_table

if TYPE_CHECKING:
    import pyarrow as pa

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
# Benchmark model columns of live_benchmark_models.parquet and their noise levels.
BENCHMARK_MODELS = (
    ("v5_lgbm_ender20", 1.0),
    ("v5_lgbm_cyrusd20", 1.5),
    ("v5_lgbm_teager2b20", 2.0),
)
# Feature values are Numerai's 5 bins.
FEATURE_BINS = 5


def generate(spec: SyntheticSpec) -> dict[str, pa.Table]:
    """All tables, from one random stream (so the output depends only on the spec)."""
    rng = np.random.default_rng([spec.seed, 3])
    names = feature_names(spec)
    parts = _row_ranges(spec)  # train, validation, live: the order rows are generated in
    n_rows = parts[LIVE].stop

    # Features as (n_features, n_rows): each column contiguous for arrow.
    features = rng.integers(0, FEATURE_BINS, size=(spec.n_all, n_rows), dtype=np.int8)
    missing = rng.random(size=features.shape) < spec.missing_fraction
    signal = _signal(rng, spec, names, features, missing)
    latent = signal + rng.normal(0.0, TARGET_NOISE * signal.std(), n_rows)

    eras, data_types = _era_and_type_columns(spec, parts)
    ids = _ids(rng, n_rows)
    targets = _targets(rng, latent, signal.std(), np.asarray(eras))
    live = parts[LIVE]
    benchmarks = _benchmarks(rng, signal[live], signal.std())

    tables = {
        filename: data_table(
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
    tables[BENCHMARKS] = indexed_table(
        ids[live], {name: arrow_array(values) for name, values in benchmarks.items()}
    )
    return tables


def _validation_eras(spec: SyntheticSpec) -> int:
    return max(1, spec.train_eras // VALIDATION_ERA_DIVISOR)


def _row_ranges(spec: SyntheticSpec) -> dict[str, slice]:
    """Which rows of the generated arrays go to which file."""
    n_train = spec.train_eras * spec.rows_per_era
    n_validation = _validation_eras(spec) * spec.rows_per_era
    return {
        TRAIN: slice(0, n_train),
        VALIDATION: slice(n_train, n_train + n_validation),
        LIVE: slice(n_train + n_validation, n_train + n_validation + spec.live_rows),
    }


def _era_and_type_columns(
    spec: SyntheticSpec, parts: dict[str, slice]
) -> tuple[list[str], list[str]]:
    """Every row's ``era`` and ``data_type``.

    Train and validation rows come in whole eras numbered on from 1 (validation's
    follow train's); live rows all share the live era.
    """
    numbered = parts[VALIDATION].stop
    eras = [f"{row // spec.rows_per_era + 1:04d}" for row in range(numbered)]
    eras += [LIVE_ERA] * spec.live_rows
    data_types = [
        data_type
        for data_type, filename in (("train", TRAIN), ("validation", VALIDATION), ("live", LIVE))
        for _ in range(parts[filename].start, parts[filename].stop)
    ]
    return eras, data_types


def _signal(
    rng: np.random.Generator,
    spec: SyntheticSpec,
    names: list[str],
    features: np.ndarray,
    missing: np.ndarray,
) -> np.ndarray:
    """The latent signal: a fixed linear combination of a few small-set features,
    computed on the values before nulls are punched in (missing ≈ a neutral 2)."""
    index = {name: i for i, name in enumerate(names)}
    small = feature_metadata(spec)["feature_sets"]["small"]
    signal_cols = [index[n] for n in small[:SIGNAL_FEATURES]]
    weights = rng.choice([-1.0, 1.0], SIGNAL_FEATURES) * rng.uniform(0.5, 1.0, SIGNAL_FEATURES)
    centred = features[signal_cols].astype(np.float64) - (FEATURE_BINS - 1) / 2
    centred[missing[signal_cols]] = 0.0
    return weights @ centred


def _targets(
    rng: np.random.Generator, latent: np.ndarray, signal_std: float, eras: np.ndarray
) -> dict[str, np.ndarray]:
    """``target`` and the auxiliary targets, each binned per era."""
    targets = {"target": _bin_per_era(latent, eras)}
    for name, extra_noise in AUX_TARGETS:
        # Drawn even for the alias (no extra noise): the stream's order stays fixed.
        noisy = latent + rng.normal(0.0, extra_noise * signal_std, latent.size)
        targets[name] = targets["target"] if extra_noise == 0.0 else _bin_per_era(noisy, eras)
    return targets


def _benchmarks(
    rng: np.random.Generator, live_signal: np.ndarray, signal_std: float
) -> dict[str, np.ndarray]:
    """Each benchmark model's live predictions: the signal plus its own noise, ranked."""
    n = live_signal.size
    benchmarks = {}
    for name, noise in BENCHMARK_MODELS:
        guess = live_signal + rng.normal(0.0, noise * signal_std, n)
        # Numerai's benchmark predictions are ranks in (0, 1].
        benchmarks[name] = ((np.argsort(np.argsort(guess)) + 1) / n).astype(np.float32)
    return benchmarks


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
