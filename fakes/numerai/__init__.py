"""A local stand-in for Numerai's API that speaks what numerapi 3.1.x speaks.

One stdlib ``ThreadingHTTPServer`` on 127.0.0.1 serves:

- ``POST /``: GraphQL, as numerapi sends it (``{"query", "variables"}``, header
  ``Authorization: Token PUBLIC$SECRET`` on authenticated calls). Operations are
  recognised by the root field a query asks for (``rounds``, ``listDatasets``,
  ``dataset``, ``account``, ``model``, ``submissions``, ``submission_upload_auth``,
  ``create_submission``, ``setSubmissionWebhook``, ``submissionDownloadAuth``) and
  answered with exactly the subfields it selects. Errors are HTTP 200 with
  ``{"errors": [{"message"}], "data": null}``, as Numerai answers them; an operation or
  field the fake does not implement is such an error, naming it.
- ``GET /files/<round>/<version>/<name>``: the synthetic dataset (``write_dataset``),
  with ``Content-Length`` and ``Range: bytes=N-`` → ``206`` (numerapi resumes a
  ``.temp`` file and appends whatever comes back).
- ``PUT /uploads/<token>``: the predictions upload numerapi makes between
  ``submission_upload_auth`` and ``create_submission`` (it never checks the status).
- ``GET /_fake/submissions``: what was received, for demo scripts.
- ``GET /submissions/<id>``: a received CSV, at the URL ``submissionDownloadAuth`` gives.

Tests drive failures through ``fake.faults`` and inspect ``fake.submissions``,
``fake.requests``, ``fake.file_gets(name)`` and ``fake.webhooks``.

Run standalone: ``python -m fakes.numerai --data-dir DIR [--port 0] ...``.

Modules, each building on the ones before it: ``graphql`` (parsing a query, keeping
the subfields it selects), ``records`` and ``faults`` (what the fake keeps and the
failures it injects), ``state`` (data, accounts, uploads, the request log),
``validation`` (Numerai's checks of a predictions CSV), ``api`` (the GraphQL
resolvers), ``downloads`` and ``routes`` (HTTP), ``fake`` (``FakeNumerai``: the
server's lifecycle), ``cli`` (``python -m fakes.numerai``).
"""

from fakes.numerai.api import CLASSIC_TOURNAMENT
from fakes.numerai.fake import FakeNumerai
from fakes.numerai.faults import Faults
from fakes.numerai.graphql import GraphQLError
from fakes.numerai.records import RequestRecord, Submission

__all__ = [
    "CLASSIC_TOURNAMENT",
    "FakeNumerai",
    "Faults",
    "GraphQLError",
    "RequestRecord",
    "Submission",
]
