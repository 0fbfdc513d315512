"""The names the parts of numerai-cloudrun share, defined once.

The dispatcher, the job, the deployment verbs (``ops``) and the local runs (``local``)
talk to each other through environment variables, secret names, words in those
variables and log fields. Each is spelled here and nowhere else in the code, so that a
rename cannot leave one part behind. Standard library only: every image and
``python3 -m ops`` without a virtualenv import it. docs/reference.md is the same
contract for people.
"""

from __future__ import annotations

# --- What a launch hands the job: the environment overrides of one execution -----------
# The dispatcher, `make rerun` (gcloud run jobs execute --update-env-vars), `make schedule`
# and local mode all set exactly these; the job reads them.
MODEL_ID_ENV = "NUMERAI_MODEL_ID"
ROUND_ENV = "NUMERAI_ROUND"
TRIGGER_ID_ENV = "TRIGGER_ID"  # also what numerapi itself reads
IS_TEST_ENV = "NUMERAI_IS_TEST"
OVERRIDE_NAMES = (MODEL_ID_ENV, ROUND_ENV, TRIGGER_ID_ENV, IS_TEST_ENV)
# What the job does for a model that already has a submission for the round.
IF_SUBMITTED_ENV = "NUMERAI_IF_SUBMITTED"

# Words in those variables.
ROUND_CURRENT = "current"  # NUMERAI_ROUND unset or "current": the open round
ROUND_TEST = "test"  # Numerai's test webhook: submits to the open round, logged is_test
ALL_MODELS = "all"  # NUMERAI_MODEL_ID=all / MODEL=all: every registered model
TRUE, FALSE = "true", "false"  # NUMERAI_IS_TEST as the launchers write it
# Numerai keeps the latest submission of a round, so resubmitting is safe (the default);
# skipping saves the compute of a rerun or a second trigger.
IF_SUBMITTED_RESUBMIT = "resubmit"
IF_SUBMITTED_SKIP = "skip"
IF_SUBMITTED_CHOICES = (IF_SUBMITTED_RESUBMIT, IF_SUBMITTED_SKIP)

# --- Where the parts find things --------------------------------------------------------
MODELS_FILE_ENV = "NUMERAI_MODELS_FILE"
DEFAULT_MODELS_FILE = "predictors/models.toml"
API_URL_ENV = "NUMERAI_API_URL"  # Numerai's API base URL (a local fake in tests and demos)
DEFAULT_JOB = "numerai-job"  # the Cloud Run job a model runs on unless the registry says
PROJECT_ENV = "GOOGLE_CLOUD_PROJECT"  # where the jobs and the secrets live
# The Cloud Run Admin API's base URL, set only to reach a local fake (dispatcher, make smoke).
CLOUD_RUN_API_ENDPOINT_ENV = "CLOUD_RUN_API_ENDPOINT"

# --- Secrets: the variables that hold them and the Secret Manager secrets behind them ---
PUBLIC_ID_ENV = "NUMERAI_PUBLIC_ID"
SECRET_KEY_ENV = "NUMERAI_SECRET_KEY"  # noqa: S105 - a variable name, not a key
WEBHOOK_TOKEN_ENV = "WEBHOOK_TOKEN"  # noqa: S105 - a variable name, not a token
# During a token rotation the dispatcher also accepts the previous token.
WEBHOOK_TOKEN_PREVIOUS_ENV = "WEBHOOK_TOKEN_PREVIOUS"  # noqa: S105 - a variable name
PUBLIC_ID_SECRET = "numerai-public-id"  # noqa: S105 - a secret's name
SECRET_KEY_SECRET = "numerai-secret"  # noqa: S105 - a secret's name
WEBHOOK_TOKEN_SECRET = "numerai-webhook-token"  # noqa: S105 - a secret's name

# --- The job's log lines: Cloud Logging labels on every line about a model ---------------
# job/runner.py writes them; `make logs`, `make smoke`, `make report` and the alert policies
# of `make alerts` filter on them and extract them.
LABEL_MODEL_ID = "model_id"
LABEL_MODEL_NAME = "model_name"
LABEL_ROUND = "round"  # the round number; "" when the job could not learn the open round
LABEL_TRIGGER_ID = "trigger_id"
LABEL_EXECUTION = "execution"  # the Cloud Run execution (CLOUD_RUN_EXECUTION)

# --- The job's per-model summary line (the last line it logs for each model) ------------
# Its JSON payload (job/results.py log_summary) holds these fields; `"event"` is one of the
# events below. `make smoke`, `make report` and the alert policies read them.
FIELD_EVENT = "event"
FIELD_REASON = "reason"  # why it failed or was skipped
FIELD_SUBMISSION_ID = "submission_id"
EVENT_SUBMITTED = "submitted"
EVENT_FAILED = "failed"
EVENT_SKIPPED = "skipped"
EVENT_DRY_RUN = "dry_run"
SUMMARY_EVENTS = (EVENT_SUBMITTED, EVENT_FAILED, EVENT_SKIPPED, EVENT_DRY_RUN)

# --- Exit codes, the same for the job, the dispatcher and every ops verb ----------------
EXIT_OK = 0
EXIT_FAILED = 1  # something refused or failed; the last line says what
EXIT_CONFIG = 2  # bad configuration or input; the line names the variable, flag or file
