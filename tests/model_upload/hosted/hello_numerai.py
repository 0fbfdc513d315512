"""example-scripts ``hello_numerai.ipynb`` as a script: LightGBM, the 1-argument predict.

Run like ``example_model.py`` (see there). Writes ``hello_numerai.pkl``.
"""

import json

import cloudpickle
import lightgbm as lgb
import pandas as pd

DATA_VERSION = "v5.3"

with open(f"{DATA_VERSION}/features.json") as f:
    feature_metadata = json.load(f)
feature_sets = feature_metadata["feature_sets"]
feature_set = feature_sets["small"]
train = pd.read_parquet(f"{DATA_VERSION}/train.parquet", columns=["era", "target", *feature_set])

model = lgb.LGBMRegressor(
    n_estimators=200,
    learning_rate=0.01,
    max_depth=5,
    num_leaves=2**5 - 1,
    colsample_bytree=0.1,
    verbose=-1,
)
model.fit(train[feature_set], train["target"])


def predict(live_features: pd.DataFrame) -> pd.DataFrame:
    live_predictions = model.predict(live_features[feature_set])
    submission = pd.Series(live_predictions, index=live_features.index)
    return submission.to_frame("prediction")


p = cloudpickle.dumps(predict)
with open("hello_numerai.pkl", "wb") as f:
    f.write(p)
