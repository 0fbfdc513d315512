"""``FakeCloudRun``: both API versions on one server, plus Cloud Logging's entries:list."""

from __future__ import annotations

from fakes import cloudlogging
from fakes.cloudrun.v1 import V1Api
from fakes.cloudrun.v2 import V2Api
from fakes.googleapi import Request, Response, google_error

# Cloud Logging's entries:list (the v2 Logging API, not Cloud Run's v2).
LOGGING_LIST_PATH = "/v2/entries:list"


class FakeCloudRun(V2Api, V1Api):
    """Cloud Run Admin API fake: jobs, executions, operations (v2) and jobs (v1).

    Constructor arguments and test controls: see ``CloudRunState`` (``state.py``).
    """

    def _handle(self, request: Request) -> Response:
        if request.path == LOGGING_LIST_PATH and request.method == "POST":
            with self._lock:
                entries = list(self.log_entries)
            status, payload = cloudlogging.list_entries(entries, request.json())
            return Response(status, payload)
        path = request.path.lstrip("/")
        if path.startswith("v2/"):
            return self._handle_v2(request, path.split("/"))
        if path.startswith("apis/run.googleapis.com/v1/"):
            return self._handle_v1(request, path.split("/")[3:])
        return Response(404, google_error(404, f"fake: no route for {request.path}"))
