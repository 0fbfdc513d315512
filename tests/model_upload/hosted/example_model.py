"""example-scripts ``example_model.ipynb`` as a script: LightGBM, the 2-argument predict.

Run in Numerai's hosted environment with the data version's files under ``v5.3/`` of the
working directory, as ``__main__`` like a notebook, so cloudpickle pickles ``predict`` by
value together with the model and the feature list it uses. Writes ``example_model.pkl``.
"""

import json

import cloudpickle
import lightgbm as lgb
import pandas as pd

DATA_VERSION = "v5.3"

with open(f"{DATA_VERSION}/features.json") as f:
    feature_metadata = json.load(f)
features = feature_metadata["feature_sets"]["medium"]
train = pd.read_parquet(f"{DATA_VERSION}/train.parquet", columns=["era", *features, "target"])

# The notebook's model, with fewer trees for a 1,440-row training set.
model = lgb.LGBMRegressor(
    n_estimators=200,
    learning_rate=0.01,
    max_depth=5,
    num_leaves=2**5 - 1,
    colsample_bytree=0.1,
    verbose=-1,
)
model.fit(train[features], train["target"])


def predict(live_features: pd.DataFrame, _live_benchmark_models: pd.DataFrame) -> pd.DataFrame:
    live_predictions = model.predict(live_features[features])
    submission = pd.Series(live_predictions, index=live_features.index)
    return submission.to_frame("prediction")


with open("example_model.pkl", "wb") as f:
    f.write(cloudpickle.dumps(predict))
