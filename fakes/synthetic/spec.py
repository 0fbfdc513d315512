"""What a synthetic dataset is made from (``SyntheticSpec``) and the files it has."""

from __future__ import annotations

from dataclasses import dataclass

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
