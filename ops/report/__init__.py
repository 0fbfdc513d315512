"""``make report [ROUND=current|N] [MODEL=all|name|id,…] [FORMAT=json]``: did every model
submit this round, and if not, why?

One row per selected model, in registry order, in one of five states:

- ``submitted``: Numerai lists a submission of the model for the round (the latest one
  counts, as on Numerai). Numerai is the only source of truth for this state.
- ``failed``: no submission, and the model's latest summary line for the round says
  ``failed`` (its ``reason``), or an execution that ran the model failed without writing
  one (a crash, a timeout: the execution's own message).
- ``skipped``: no submission, and the latest summary line says ``skipped`` or
  ``dry_run`` (its reason).
- ``running``: no submission, and an execution that runs the model started after its
  latest summary line and has not finished.
- ``missing``: no submission and no run of the model known for the round: nothing ran
  (a webhook that never arrived, no schedule).

Sources (``sources``): Numerai through numerapi (``ops/numerai.py``: keys from the
environment, else the project's secrets; NUMERAI_API_URL honoured) for the round and the
submissions (``ops/submissions.py``); the job's summary lines from Cloud Logging
(``gcloud logging read``: ``jsonPayload.event`` one of common.contract.SUMMARY_EVENTS,
labels ``model_id``, ``round``, ``trigger_id``, ``execution``); the executions of each
model's Cloud Run job (``gcloud run jobs executions list``).

"How" a submission was made (``verdict.how``) comes from the execution that made it:
the summary line carrying the submission id names it (else the execution whose
TRIGGER_ID override is the submission's trigger id), and Cloud Run records who created
every execution (``run.googleapis.com/creator``, gcloud's "RUN BY"): the dispatcher's
service account → ``webhook``, the scheduler's → ``schedule`` (the regular run and the
catch-up check alike), anyone else → ``rerun (<account>)``. A trigger id starting
``smoke-`` → ``smoke``. None of these found → ``unknown`` (made outside this deployment,
or older than the logs and the execution list).

Exit codes: 0 only when every selected model is ``submitted``; 1 when any is not (or
Numerai, gcloud failed); 2 for bad input (unknown model, bad round, bad FORMAT).
"""
