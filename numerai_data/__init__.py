"""Numerai's API and data files, as the job and the trainers use them.

``client``: numerapi with every call bounded in time and its failures named
(TransientError / NumeraiError). ``cache``: the verified, atomic dataset cache.
Shared by the job (live data, submissions), predictor trainers (train data) and the
deployment verbs that talk to Numerai (``make smoke``, ``make webhook-url REGISTER=1``),
so none of them reaches into another's internals. Importing the package imports nothing
heavy; numerapi and polars load with the modules that need them.
"""

# Light constants only (imported by settings parsers before anything heavy loads).
DATA_DIR_ENV = "NUMERAI_DATA_DIR"
# Relative to the working directory; the job image sets NUMERAI_DATA_DIR under /tmp.
DEFAULT_DATA_DIR = ".data"
REQUEST_TIMEOUT_ENV = "NUMERAI_REQUEST_TIMEOUT"
# Seconds to wait on one Numerai API exchange (GraphQL POST, upload PUT). numerapi sets
# none on GraphQL, so a hung connection would hold the task until its timeout; a healthy
# answer takes well under a second.
DEFAULT_REQUEST_TIMEOUT = 30.0
DOWNLOAD_TIMEOUT_ENV = "NUMERAI_DOWNLOAD_TIMEOUT"
# Seconds for one whole dataset download in the job. live.parquet (~10 MB) takes seconds;
# the job's four attempts at this bound (plus backoff) stay inside the 30-minute task
# timeout the deployment sets, so a stalled transfer fails the model, not the task.
DEFAULT_DOWNLOAD_TIMEOUT = 300.0
