"""A scikit-learn pipeline fitted on a DataFrame (it keeps the column names it saw).

Run like ``example_model.py`` (see there). Writes ``sklearn_pipeline.pkl``.
"""

import json

import cloudpickle
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DATA_VERSION = "v5.3"

with open(f"{DATA_VERSION}/features.json") as f:
    feature_metadata = json.load(f)
features = feature_metadata["feature_sets"]["medium"]
train = pd.read_parquet(f"{DATA_VERSION}/train.parquet", columns=["era", *features, "target"])

pipeline = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), Ridge(alpha=10.0))
pipeline.fit(train[features], train["target"])


def predict(live_features: pd.DataFrame) -> pd.DataFrame:
    live_predictions = pipeline.predict(live_features[features])
    return pd.DataFrame({"prediction": live_predictions}, index=live_features.index)


with open("sklearn_pipeline.pkl", "wb") as f:
    f.write(cloudpickle.dumps(predict))
