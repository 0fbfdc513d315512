"""The baseline for ``bench_job.py``: a live submission the way Numerai's example-scripts
make one (``hello_numerai.ipynb`` / ``example_model.py``), as a standalone script.

numerapi downloads ``features.json`` and ``live.parquet``; pandas reads the feature set's
columns; the model predicts on the whole frame; the predictions are ranked and uploaded
with ``upload_predictions(df=...)``. Nothing from this project is imported: this is the
code a user would run without it.

    NUMERAI_API_URL=http://127.0.0.1:PORT NUMERAI_PUBLIC_ID=… NUMERAI_SECRET_KEY=… \\
    python -m tests.bench.baseline_example_script --model-path M.cbm --model-id UUID \\
        --data-dir DIR

``NUMERAI_API_URL`` points numerapi at a local fake (numerapi has no argument for it).
Prints the submission id; ``TRIGGER_ID`` is read by numerapi itself.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd
from catboost import CatBoostRegressor
from numerapi import NumerAPI, base_api

DATA_VERSION = "v5.3"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.baseline_example_script")
    parser.add_argument("--model-path", type=Path, required=True, help="a CatBoost .cbm model")
    parser.add_argument("--model-id", required=True, help="the Numerai model id to submit for")
    parser.add_argument("--data-dir", type=Path, required=True, help="where downloads go")
    parser.add_argument("--feature-set", default="medium")
    args = parser.parse_args(argv)

    if os.environ.get("NUMERAI_API_URL"):
        base_api.API_TOURNAMENT_URL = os.environ["NUMERAI_API_URL"]
    napi = NumerAPI(os.environ["NUMERAI_PUBLIC_ID"], os.environ["NUMERAI_SECRET_KEY"])

    features_path = args.data_dir / DATA_VERSION / "features.json"
    live_path = args.data_dir / DATA_VERSION / "live.parquet"
    napi.download_dataset(f"{DATA_VERSION}/features.json", dest_path=str(features_path))
    with features_path.open() as f:
        feature_metadata = json.load(f)
    features = feature_metadata["feature_sets"][args.feature_set]

    napi.download_dataset(f"{DATA_VERSION}/live.parquet", dest_path=str(live_path))
    live = pd.read_parquet(live_path, columns=features)

    model = CatBoostRegressor().load_model(str(args.model_path))
    preds = model.predict(live[features])

    submission = pd.Series(preds, index=live.index).rank(pct=True).to_frame("prediction")
    submission_id = napi.upload_predictions(df=submission.reset_index(), model_id=args.model_id)
    print(submission_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
