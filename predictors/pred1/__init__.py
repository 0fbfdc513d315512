"""pred1: a complete CatBoost example (``predictor.py``) with its trainer (``train.py``)."""

# pred1 hands CatBoost numpy blocks; neither uses pyarrow (predictors.protocol).
USES_PYARROW = False
