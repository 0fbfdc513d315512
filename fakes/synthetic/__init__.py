"""Deterministic synthetic data shaped like Numerai's v5.3 dataset.

The tests, the local fake Numerai and the offline demo never touch real data: this
package writes files with the same names, layout and types as Numerai's
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

Modules: ``spec`` (the spec, its full-size preset, the file names), ``names`` (feature
and target names, ``features.json``), ``generate`` (the numbers), ``tables`` (arrow
tables laid out like Numerai's parquet files), ``files`` (``write_dataset``).
"""

from fakes.synthetic.files import STAMP, write_dataset
from fakes.synthetic.names import feature_metadata, feature_names, target_names
from fakes.synthetic.spec import (
    BENCHMARKS,
    FEATURES,
    FILENAMES,
    FULL_SIZE,
    LIVE,
    TRAIN,
    VALIDATION,
    SyntheticSpec,
)

__all__ = [
    "BENCHMARKS",
    "FEATURES",
    "FILENAMES",
    "FULL_SIZE",
    "LIVE",
    "STAMP",
    "TRAIN",
    "VALIDATION",
    "SyntheticSpec",
    "feature_metadata",
    "feature_names",
    "target_names",
    "write_dataset",
]
