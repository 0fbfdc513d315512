"""The dispatcher: Numerai's Compute webhook → one Cloud Run Job execution.

A tiny aiohttp service (``python -m dispatcher``). It authenticates, validates and
dedupes the webhook, starts the job execution with the model, round and trigger as
environment overrides, and answers as soon as the Cloud Run API has accepted the run.
It never runs the long work itself and never imports the job's heavy libraries.
"""
