"""``make smoke MODEL=…``: prove a deployment works, from webhook to Numerai.

Four stages, each named when it fails (``smoke: FAILED at <stage>: <reason>``, exit 1),
each in its own module; ``verb`` runs them in order:

1. ``webhook`` — POST Numerai's test webhook to the dispatcher:
   ``<service url>/pred/<model id>?token=<token>`` with ``{"roundNumber": "test",
   "dataVersion": 1, "triggerId": "smoke-<uuid>", "isTest": true}``. numerapi 3.1.1 has
   no call that makes Numerai send a webhook (only ``set_submission_webhook``), so this
   is the request Numerai's Test button makes. The URL comes from ``gcloud run services
   describe`` (or DISPATCHER_URL), the token from Secret Manager through gcloud's stdout:
   never printed, never on a command line.
2. ``execution`` — follow the execution named in the 202 answer through the Cloud Run
   Admin API v2 (google-cloud-run ``ExecutionsClient.get_execution``) until it finishes,
   within SMOKE_TIMEOUT. CLOUD_RUN_API_ENDPOINT (a local fake) → anonymous credentials;
   else the gcloud account's own access token (``gcloud auth print-access-token``,
   refreshed before it expires), the identity every other verb uses, so no Application
   Default Credentials set-up is needed.
3. ``logs`` — ``gcloud logging read`` with the job-log filter (docs/reference.md) for
   that execution, printed one line per entry (read again while Cloud Logging is still
   ingesting: until the model's summary line is there, a bounded number of times).
   Printed for a failed execution too, before that failure is reported.
4. ``confirm`` — through numerapi, the model has a submission carrying the smoke trigger
   id. If Numerai's API does not answer ``triggerId`` on submissions, the check falls
   back to a submission inserted after the webhook was sent, and the output says which
   was used.

It needs google-cloud-run and numerapi, so ``make smoke`` runs it in .venv; both are
imported only inside the functions that use them (``python3 -m ops`` stays standard
library only). The test webhook submits to the current round for real, like Numerai's
own Test button.
"""
