"""A stand-in Model-Upload pickle for ``make rehearse`` and ``make demo``.

Made the way Numerai's ``example_model.ipynb`` makes one: a LightGBM ``LGBMRegressor``
fitted on the train data, a 2-parameter ``predict(live_features, live_benchmark_models)``,
``cloudpickle.dumps``. It is fitted on the local fake's synthetic data: a user's own
pickle cannot run against the fake (its features have made-up names), so a local run of a
``model_upload`` entry rehearses the job's Model-Upload path with this one, and
``python -m predictors.model_upload.diagnose`` checks the user's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Few trees: the local run needs a real LightGBM model, not a good one.
TREES = 100


def build(data_dir: Path, output: Path, feature_set: str = "medium") -> Path:
    """Fit on ``data_dir``'s train.parquet (the fake's files) and write the pickle."""
    import cloudpickle
    import lightgbm
    import pandas as pd

    features_json = json.loads((data_dir / "features.json").read_bytes())
    features = list(features_json["feature_sets"][feature_set])
    train = pd.read_parquet(data_dir / "train.parquet", columns=["era", *features, "target"])
    model = lightgbm.LGBMRegressor(
        n_estimators=TREES, learning_rate=0.05, max_depth=5, colsample_bytree=0.5, verbose=-1
    )
    model.fit(train[features], train["target"])
    temp = output.with_name(f".{output.name}.{os.getpid()}.part")
    temp.write_bytes(cloudpickle.dumps(_predict(model, features)))
    os.replace(temp, output)
    return output


def _predict(model: Any, features: list[str]) -> Callable[[Any, Any], Any]:
    """A function defined here is pickled by value, like a notebook's, with its model."""
    import pandas as pd

    def predict(live_features: pd.DataFrame, _live_benchmark_models: pd.DataFrame) -> Any:
        live_predictions = model.predict(live_features[features])
        return pd.Series(live_predictions, index=live_features.index).to_frame("prediction")

    return predict
