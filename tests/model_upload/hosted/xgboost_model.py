"""The hello_numerai notebook with an XGBoost regressor instead of LightGBM.

Run like ``example_model.py`` (see there). Writes ``xgboost_model.pkl``.
"""

import json

import cloudpickle
import pandas as pd
from xgboost import XGBRegressor

DATA_VERSION = "v5.3"

with open(f"{DATA_VERSION}/features.json") as f:
    feature_metadata = json.load(f)
features = feature_metadata["feature_sets"]["medium"]
train = pd.read_parquet(f"{DATA_VERSION}/train.parquet", columns=["era", *features, "target"])

model = XGBRegressor(
    n_estimators=100,
    max_depth=4,
    learning_rate=0.05,
    colsample_bytree=0.5,
    tree_method="hist",
)
model.fit(train[features], train["target"])


def predict(live_features: pd.DataFrame) -> pd.DataFrame:
    live_predictions = model.predict(live_features[features])
    return pd.Series(live_predictions, index=live_features.index).to_frame("prediction")


with open("xgboost_model.pkl", "wb") as f:
    f.write(cloudpickle.dumps(predict))
