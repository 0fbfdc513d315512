"""``FakeCloudRun``: both API versions on one server, plus Cloud Logging's entries:list and
its sinks (the exclusions ``make setup`` adds to ``_Default``)."""

from __future__ import annotations

import re
from typing import Any

from fakes import cloudlogging
from fakes.cloudrun.v1 import V1Api
from fakes.cloudrun.v2 import V2Api
from fakes.googleapi import Request, Response, google_error

# Cloud Logging's entries:list (the v2 Logging API, not Cloud Run's v2).
LOGGING_LIST_PATH = "/v2/entries:list"
# Cloud Logging's sinks of a project: GET and PATCH (what `gcloud logging sinks` use).
LOGGING_SINK_PATH = re.compile(r"^/v2/projects/([^/]+)/sinks/([^/]+)$")


class FakeCloudRun(V2Api, V1Api):
    """Cloud Run Admin API fake: jobs, executions, operations (v2) and jobs (v1).

    Constructor arguments and test controls: see ``CloudRunState`` (``state.py``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Sink name → its Cloud Logging JSON; a project starts with an empty _Default.
        self.sinks: dict[str, dict[str, Any]] = {"_Default": {"name": "_Default"}}

    def _handle(self, request: Request) -> Response:
        if request.path == LOGGING_LIST_PATH and request.method == "POST":
            with self._lock:
                entries = list(self.log_entries)
            status, payload = cloudlogging.list_entries(entries, request.json())
            return Response(status, payload)
        sink = LOGGING_SINK_PATH.match(request.path)
        if sink is not None:
            return self._sink(request, sink[2])
        path = request.path.lstrip("/")
        if path.startswith("v2/"):
            return self._handle_v2(request, path.split("/"))
        if path.startswith("apis/run.googleapis.com/v1/"):
            return self._handle_v1(request, path.split("/")[3:])
        return Response(404, google_error(404, f"fake: no route for {request.path}"))

    def _sink(self, request: Request, name: str) -> Response:
        """GET a sink, or PATCH the fields its ``updateMask`` names (exclusions, say)."""
        with self._lock:
            sink = self.sinks.get(name)
            if sink is None:
                return Response(404, google_error(404, f"Sink {name} does not exist"))
            if request.method == "PATCH":
                body = request.json()
                for field in (request.query.get("updateMask") or [""])[0].split(","):
                    if field:
                        sink[field] = body.get(field)
            elif request.method != "GET":
                return Response(405, google_error(405, f"fake: {request.method} on a sink"))
            return Response(200, dict(sink))
