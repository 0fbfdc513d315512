"""Wire-level fake of the Cloud Run Admin API: v2 (google-cloud-run) and v1 (gcloud).

The real clients talk to it unchanged:

- ``run_v2.JobsClient(transport="rest", credentials=AnonymousCredentials(),
  client_options={"api_endpoint": fake.url})`` (and ``ExecutionsClient``) speak v2 REST;
- the installed ``gcloud run jobs execute`` speaks the v1 Knative API and reaches the fake
  as its HTTP proxy (see ``fakes/gcloud.py``), so this server also accepts
  proxy-style request lines (``GET http://europe-west1-run.fake.test/apis/... HTTP/1.1``).
  Requests for any host that is not the fake are refused and recorded, so a test can
  assert that nothing tried to leave the machine.
- every execution records its creator (the account of the caller's bearer token, as
  ``CloudRunState.creators`` maps it): v2's ``creator``, v1's ``run.googleapis.com/creator``
  annotation (gcloud's "RUN BY"); ``gcloud run jobs executions list`` lists them (v1);
- optionally, executions that actually run: an ``executor`` (``fakes/executions.py``,
  e.g. ``JobProcessExecutor`` running ``python -m job``) decides each execution's outcome,
  and the log entries it writes are served by Cloud Logging's ``POST /v2/entries:list``
  (``fakes/cloudlogging.py``), which ``gcloud logging read`` reaches through the
  same proxy (``CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING=http://logging.fake.test/``).

Only stdlib: it is started by tests, by benchmarks and as a subprocess
(``python -m fakes.cloudrun --port N``).

Modules: ``records`` (runs, executions, operations; what v1 and v2 report alike),
``state`` (``CloudRunState``: the constructor's options, the test controls, how an
execution starts and ends), ``audit`` (the entry Cloud Run logs for a failed
execution), ``v2`` and ``v1`` (each API version's routes and JSON),
``fake`` (``FakeCloudRun``: both versions and Cloud Logging on one server), ``cli``
(``python -m fakes.cloudrun``). The HTTP server itself, shared with the Secret
Manager fake, is ``fakes/googleapi/``.
"""

from fakes.cloudrun.fake import FakeCloudRun
from fakes.cloudrun.records import RunRecord
from fakes.googleapi import FAKE_DOMAIN

__all__ = ["FAKE_DOMAIN", "FakeCloudRun", "RunRecord"]
