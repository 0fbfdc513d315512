"""Run pickles the way Numerai's own runner (numerai-predict ``predict.py``) does.

``python numerai_predict.py DATA_DIR OUT_DIR PKL...``: for each pickle,
``pandas.read_pickle``; ``live.parquet`` (and ``live_benchmark_models.parquet`` for a
2-parameter function) with ``pandas.read_parquet``; one call per era; the runner's
checks (a DataFrame, one row per live row, no NaN, values in [0, 1]); the predictions
written to ``OUT_DIR/<pickle stem>.csv`` as ``id,prediction`` with every digit.
Exits 1 naming the pickle when one fails, as the hosted run would fail.
"""

import sys
from inspect import signature
from pathlib import Path

import pandas as pd


def run(pickle_path: Path, data_dir: Path) -> pd.DataFrame:
    model = pd.read_pickle(pickle_path)
    num_args = len(signature(model).parameters)
    live_features = pd.read_parquet(data_dir / "live.parquet")
    if num_args > 1:
        benchmark_models = pd.read_parquet(data_dir / "live_benchmark_models.parquet")
    predictions = []
    for _era, era_features in live_features.groupby("era"):
        if num_args == 1:
            era_predictions = model(era_features)
        else:
            era_predictions = model(era_features, benchmark_models.loc[era_features.index])
        if type(era_predictions) is not pd.DataFrame:
            raise SystemExit(f"{pickle_path.name}: returned {type(era_predictions)}")
        if len(era_predictions) != len(era_features):
            raise SystemExit(f"{pickle_path.name}: {len(era_predictions)} predictions")
        if era_predictions.isna().any().any():
            raise SystemExit(f"{pickle_path.name}: NaN predictions")
        if not era_predictions.iloc[:, 0].between(0, 1).all():
            raise SystemExit(f"{pickle_path.name}: predictions outside [0, 1]")
        predictions.append(era_predictions)
    return pd.concat(predictions)


def main(data_dir: str, out_dir: str, *pickles: str) -> None:
    for name in pickles:
        path = Path(name)
        predictions = run(path, Path(data_dir))
        predictions.iloc[:, 0].rename("prediction").to_csv(
            Path(out_dir) / f"{path.stem}.csv", index_label="id", float_format="%.17g"
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
