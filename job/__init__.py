"""The batch job: live data → predictor → validated submission (``python -m job``)."""
