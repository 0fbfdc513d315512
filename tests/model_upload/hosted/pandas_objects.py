"""A predict closing over pandas objects, written the pandas 2 way.

The closure holds a Series (weights by feature name), a DataFrame (per-feature mean and
std) and an Index, all pickled by this pandas. ``predict`` uses two idioms whose meaning
pandas 3 changed: ``select_dtypes(exclude="object")`` to drop the text columns (era,
data_type are ``str``, not ``object``, under pandas 3) and editing ``.values`` in place
(read-only under pandas 3's copy-on-write).

Run like ``example_model.py`` (see there). Writes ``pandas_objects.pkl``.
"""

import json

import cloudpickle
import numpy as np
import pandas as pd

DATA_VERSION = "v5.3"

with open(f"{DATA_VERSION}/features.json") as f:
    feature_metadata = json.load(f)
features = feature_metadata["feature_sets"]["medium"]
targets = feature_metadata["targets"]
train = pd.read_parquet(f"{DATA_VERSION}/train.parquet", columns=["era", *features, "target"])

feature_index = pd.Index(features, name="feature")
stats = train[features].agg(["mean", "std"]).T
weights = train[features].corrwith(train["target"]).rename("weight")


def predict(live_features: pd.DataFrame) -> pd.DataFrame:
    numeric = live_features.select_dtypes(exclude="object").drop(columns=targets)
    z = (numeric - stats["mean"]) / stats["std"]
    values = z[feature_index].values
    values[np.isnan(values)] = 0.0
    score = pd.Series(values @ weights[feature_index].to_numpy(), index=live_features.index)
    return score.rank(pct=True).to_frame("prediction")


with open("pandas_objects.pkl", "wb") as f:
    f.write(cloudpickle.dumps(predict))
