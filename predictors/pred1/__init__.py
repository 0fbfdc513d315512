"""pred1: a complete CatBoost example (``predictor.py``) with its trainer (``train.py``)."""

# What the job may do with pred1 models (predictors.protocol): pred1 hands CatBoost numpy
# blocks (no pyarrow anywhere), one block at a time, and a loaded CatBoost model predicts
# from any thread.
USES_PYARROW = False
PARALLEL_SAFE = True
