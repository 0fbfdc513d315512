"""pred1: a complete CatBoost example (``predictor.py``) with its trainer (``train.py``)."""
