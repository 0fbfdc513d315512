"""Wire-level fake of the Cloud Run Admin API: v2 (google-cloud-run) and v1 (gcloud).

The real clients talk to it unchanged:

- ``run_v2.JobsClient(transport="rest", credentials=AnonymousCredentials(),
  client_options={"api_endpoint": fake.url})`` (and ``ExecutionsClient``) speak v2 REST;
- the installed ``gcloud run jobs execute`` speaks the v1 Knative API and reaches the fake
  as its HTTP proxy (see ``fakes/gcloud.py``), so this server also accepts
  proxy-style request lines (``GET http://europe-west1-run.fake.test/apis/... HTTP/1.1``).
  Requests for any host that is not the fake are refused and recorded, so a test can
  assert that nothing tried to leave the machine.
- optionally, executions that actually run: an ``executor`` (``fakes/executions.py``,
  e.g. ``JobProcessExecutor`` running ``python -m job``) decides each execution's outcome,
  and the log entries it writes are served by Cloud Logging's ``POST /v2/entries:list``
  (``fakes/cloudlogging.py``), which ``gcloud logging read`` reaches through the
  same proxy (``CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING=http://logging.fake.test/``).

Only stdlib: it is started by tests, by benchmarks and as a subprocess
(``python -m fakes.cloudrun --port N``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import signal
import string
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakes import cloudlogging
from fakes.executions import Executor, FinishedExecution, StartedExecution

# HTTP status → the canonical status string Google APIs put in their error JSON
# (google.rpc.Code names); api_core maps the HTTP status to its exception class.
GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",  # not a google.rpc code: only for proxy CONNECT refusals
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# Hosts that mean "this fake": loopback by address, and the made-up domain gcloud is
# pointed at (it prefixes the region, e.g. europe-west1-run.fake.test).
FAKE_DOMAIN = "fake.test"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")

# socketserver's default listen backlog is 5: a burst of 100 webhooks opening 100
# connections at once would see SYN retries (1 s+) instead of the API's latency.
LISTEN_BACKLOG = 256
# serve_forever checks for shutdown this often; the stdlib's 0.5 s would add half a
# second to every test that stops a fake.
SHUTDOWN_POLL_SECONDS = 0.02

# A real execution id is the job name plus a 5-character random suffix.
EXECUTION_SUFFIX_LENGTH = 5
EXECUTION_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits

EXECUTION_TYPE_URL = "type.googleapis.com/google.cloud.run.v2.Execution"
DEFAULT_IMAGE = "europe-west1-docker.pkg.dev/{project}/numerai/job:latest"
# Cloud Run's default task timeout (10 minutes) and retries (3), reported in templates.
DEFAULT_TASK_TIMEOUT = "600s"
DEFAULT_MAX_RETRIES = 3
# What a deployed job's container already sets (docs/reference.md, job logs); overrides
# add to it.
DEFAULT_JOB_ENV = {"LOG_FORMAT": "json"}
V1_API_VERSION = "run.googleapis.com/v1"
V1_PREFIX = "/apis/run.googleapis.com/v1"
# Failed operations carry google.rpc.Code UNKNOWN (2): the fake's choice, the API does
# not document which code a failed execution's operation ends with.
FAILED_OPERATION_CODE = 2
# stop() waits this long for executor threads still running a job (they are daemons:
# a stuck one never blocks the interpreter's exit).
EXECUTOR_JOIN_SECONDS = 30.0
# Cloud Logging's entries:list (the v2 Logging API, not Cloud Run's v2).
LOGGING_LIST_PATH = "/v2/entries:list"


def google_error(status: int, message: str) -> dict[str, Any]:
    """The JSON error body every Google REST API answers with."""
    return {
        "error": {
            "code": status,
            "message": message,
            "status": GOOGLE_STATUS.get(status, "UNKNOWN"),
        }
    }


def rfc3339(epoch: float) -> str:
    """Timestamp the way protobuf JSON writes google.protobuf.Timestamp."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class RequestRecord:
    """One HTTP request the fake received (any path, any host)."""

    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    status: int
    body: bytes = b""
    foreign: bool = False  # addressed to a host that is not this fake: refused
    auth_scheme: str = ""  # "Bearer" when credentials were sent (the token is never kept)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Request:
    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}


@dataclass
class Response:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG
    fake: GoogleApiFake

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and hang up are part of the tests, not fake errors.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive: the google clients reuse a pooled session.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two sends; with Nagle on, the second waits for the
    # client's delayed ACK (~40 ms per call), which would swamp latency measurements.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_CONNECT(self) -> None:
        # A CONNECT means a client wanted a TLS tunnel to some real host: never grant it.
        fake = self.server.fake
        host = self.path
        fake._record(
            RequestRecord("CONNECT", host, "", {}, 405, foreign=True),
        )
        fake._log(f"refused CONNECT {host}")
        self._send(Response(405, google_error(405, f"fake refuses CONNECT to {host}")))
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the fake logs its own one-line summaries (see GoogleApiFake._log)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        fake = self.server.fake
        target = self.path
        if target.startswith(("http://", "https://")):  # proxy-style absolute URI
            parts = urlsplit(target)
            host = parts.netloc
        else:
            parts = urlsplit(target)
            host = self.headers.get("Host", "")
        body = self._read_body()
        request = Request(
            method=self.command,
            host=host,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        foreign = not fake._is_own_host(host)
        if foreign:
            response = Response(
                502, google_error(502, f"fake refuses a request to a non-fake host: {host}")
            )
        else:
            try:
                response = fake._handle(request)
            except Exception as exc:  # a bug in the fake must surface, not hang the client
                fake._log(f"fake error on {self.command} {parts.path}: {exc!r}")
                response = Response(500, google_error(500, f"fake error: {exc!r}"))
        auth_scheme = request.headers.get("authorization", "").partition(" ")[0]
        fake._record(
            RequestRecord(
                self.command,
                host,
                parts.path,
                request.query,
                response.status,
                body,
                foreign,
                auth_scheme,
            )
        )
        fake._log(f"{self.command} {host}{parts.path} -> {response.status}")
        self._send(response)

    def _send(self, response: Response) -> None:
        data = json.dumps(response.payload).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first (a client-side timeout test): nothing to tell it.
            self.close_connection = True


class GoogleApiFake:
    """A stdlib HTTP server on 127.0.0.1 that answers like a Google REST API.

    Subclasses implement ``_handle``. ``requests`` records every request in order;
    ``fail_next``/``hang_next`` script faults for the requests a subclass marks faultable.
    """

    def __init__(self, *, port: int = 0, verbose: bool = False) -> None:
        self._port = port
        self._verbose = verbose
        self._lock = threading.Lock()
        self._failures: deque[int] = deque()
        self._hangs: deque[float] = deque()
        self.requests: list[RequestRecord] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------
    def start(self) -> GoogleApiFake:
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> GoogleApiFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- scripted faults ----------------------------------------------------------
    def fail_next(self, count: int, status: int = 503) -> None:
        """The next ``count`` faultable requests answer ``status`` with a Google error."""
        with self._lock:
            self._failures.extend([status] * count)

    def hang_next(self, count: int, seconds: float) -> None:
        """The next ``count`` faultable requests sleep ``seconds``, then answer normally."""
        with self._lock:
            self._hangs.extend([seconds] * count)

    def _fault(self) -> Response | None:
        """Apply the scripted hang and failure, if any, to one faultable request."""
        with self._lock:
            hang = self._hangs.popleft() if self._hangs else 0.0
            failure = self._failures.popleft() if self._failures else None
        if hang:
            time.sleep(hang)
        if failure is not None:
            return Response(failure, google_error(failure, f"fake: scripted {failure} error"))
        return None

    # --- bookkeeping --------------------------------------------------------------
    @property
    def foreign_requests(self) -> list[RequestRecord]:
        """Requests addressed to anything but this fake (all refused)."""
        with self._lock:
            return [r for r in self.requests if r.foreign]

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def _log(self, line: str) -> None:
        if self._verbose:
            print(f"[{type(self).__name__}] {line}", file=sys.stderr, flush=True)

    def _is_own_host(self, host: str) -> bool:
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
        if name in LOOPBACK_HOSTS:
            return port == str(self.port)
        return name == FAKE_DOMAIN or name.endswith("." + FAKE_DOMAIN)

    def _handle(self, request: Request) -> Response:
        raise NotImplementedError


@dataclass
class RunRecord:
    """One accepted run request (v2 RunJob or v1 jobs:run)."""

    api: str  # "v2" or "v1"
    project: str
    region: str
    job: str
    env: dict[str, str]  # the first container override's env
    task_count: int | None
    timeout: str | None
    execution_name: str  # projects/P/locations/L/jobs/J/executions/J-xxxxx
    body: dict


@dataclass
class _Execution:
    project: str
    region: str
    job: str
    short: str  # J-xxxxx
    uid: str
    created: float
    task_count: int
    timeout: str
    env: dict[str, str]
    outcome: str | None = None  # None while running; "succeeded" | "failed" | "cancelled"
    finished: float | None = None

    @property
    def name(self) -> str:
        return (
            f"projects/{self.project}/locations/{self.region}/jobs/{self.job}"
            f"/executions/{self.short}"
        )


@dataclass
class _Operation:
    name: str
    execution: str  # full execution name


class FakeCloudRun(GoogleApiFake):
    """Cloud Run Admin API fake: jobs, executions, operations (v2) and jobs (v1)."""

    def __init__(
        self,
        *,
        project: str = "test-project",
        region: str = "europe-west1",
        jobs: Iterable[str] = ("numerai-job",),
        latency: float = 0.0,
        port: int = 0,
        execution_seconds: float | None = None,
        job_env: Mapping[str, str] | None = None,
        project_number: str | None = None,
        executor: Executor | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(port=port, verbose=verbose)
        self.project = project
        self.region = region
        self.jobs = tuple(jobs)
        # The env every job's container has before any override (merged into executions).
        self.job_env = dict(DEFAULT_JOB_ENV if job_env is None else job_env)
        # v1 answers name the namespace by project number, as the real API does; gcloud
        # then uses it in its next request. None: the project id everywhere.
        self.project_number = project_number
        # Every :run waits this long before answering (the real API takes ~0.3 s).
        self.latency = latency
        # None: executions run until finish(); else they succeed this long after creation.
        self.execution_seconds = execution_seconds
        # None: executions only change state through finish()/execution_seconds. Else each
        # accepted run is handed to it in a thread; its result decides the outcome (and
        # execution_seconds is ignored).
        self.executor = executor
        # Cloud Logging entries written by executions (served at LOGGING_LIST_PATH).
        self.log_entries: list[dict[str, Any]] = []
        self._executor_threads: list[threading.Thread] = []
        self.runs: list[RunRecord] = []
        self._executions: dict[str, _Execution] = {}
        self._operations: dict[str, _Operation] = {}
        self._created = time.time()

    # --- test controls ------------------------------------------------------------
    def finish(self, execution_name: str, *, succeeded: bool = True) -> None:
        """Mark an execution (full name or short id) as completed."""
        with self._lock:
            execution = self._find_execution(execution_name)
            if execution is None:
                raise KeyError(f"no execution {execution_name!r}")
            execution.outcome = "succeeded" if succeeded else "failed"
            execution.finished = time.time()

    def _find_execution(self, name: str) -> _Execution | None:
        if name in self._executions:
            return self._executions[name]
        for execution in self._executions.values():
            if execution.short == name:
                return execution
        return None

    # --- state --------------------------------------------------------------------
    def _state(self, execution: _Execution) -> tuple[str | None, float | None]:
        """(outcome, completion time), applying ``execution_seconds`` lazily."""
        if execution.outcome is not None:
            return execution.outcome, execution.finished
        if self.execution_seconds is not None and self.executor is None:
            done_at = execution.created + self.execution_seconds
            if time.time() >= done_at:
                return "succeeded", done_at
        return None, None

    def _has_job(self, project: str, region: str, job: str) -> bool:
        return project == self.project and region == self.region and job in self.jobs

    def _job_not_found(self, project: str, region: str, job: str) -> Response:
        # The real API's wording.
        return Response(
            404,
            google_error(
                404,
                f"Resource '{job}' of kind 'JOB' in region '{region}' "
                f"in project '{project}' does not exist.",
            ),
        )

    def _new_execution(self, project: str, region: str, job: str, overrides: dict) -> _Execution:
        containers = overrides.get("containerOverrides") or [{}]
        env = {e.get("name", ""): e.get("value", "") for e in containers[0].get("env") or []}
        task_count = overrides.get("taskCount")
        with self._lock:
            while True:
                suffix = "".join(
                    secrets.choice(EXECUTION_SUFFIX_ALPHABET)
                    for _ in range(EXECUTION_SUFFIX_LENGTH)
                )
                short = f"{job}-{suffix}"
                if all(e.short != short for e in self._executions.values()):
                    break
            execution = _Execution(
                project=project,
                region=region,
                job=job,
                short=short,
                uid=str(uuid.uuid4()),
                created=time.time(),
                task_count=int(task_count) if task_count else 1,
                timeout=overrides.get("timeout") or DEFAULT_TASK_TIMEOUT,
                env=env,
            )
            self._executions[execution.name] = execution
        if self.executor is not None:
            thread = threading.Thread(
                target=self._execute, args=(execution,), name=execution.short, daemon=True
            )
            with self._lock:
                self._executor_threads.append(thread)
            thread.start()
        return execution

    def _execute(self, execution: _Execution) -> None:
        """Run one execution through the executor and record its outcome and logs."""
        assert self.executor is not None
        started = StartedExecution(
            project=execution.project,
            region=execution.region,
            job=execution.job,
            name=execution.name,
            short=execution.short,
            env={**self.job_env, **execution.env},
            task_count=execution.task_count,
            timeout_seconds=float(execution.timeout.rstrip("s")),
        )
        try:
            finished = self.executor(started)
        except Exception as exc:  # an executor bug fails the execution, visibly
            self._log(f"executor error on {execution.short}: {exc!r}")
            finished = FinishedExecution(succeeded=False)
        with self._lock:
            # Logs first: whoever sees the execution finished finds its logs written.
            self.log_entries.extend(finished.log_entries)
            if execution.outcome is None:  # a cancel while running keeps "cancelled"
                execution.outcome = "succeeded" if finished.succeeded else "failed"
                execution.finished = time.time()
        self._log(f"{execution.short} finished: {execution.outcome}")

    def wait_executions(self, timeout: float) -> bool:
        """Wait for every executor thread started so far; True if all have finished."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._executor_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)

    def stop(self) -> None:
        super().stop()
        self.wait_executions(EXECUTOR_JOIN_SECONDS)

    def _record_run(self, api: str, execution: _Execution, body: dict, overrides: dict) -> None:
        task_count = overrides.get("taskCount")
        with self._lock:
            self.runs.append(
                RunRecord(
                    api=api,
                    project=execution.project,
                    region=execution.region,
                    job=execution.job,
                    env=dict(execution.env),
                    task_count=int(task_count) if task_count is not None else None,
                    timeout=overrides.get("timeout"),
                    execution_name=execution.name,
                    body=body,
                )
            )

    # --- routing ------------------------------------------------------------------
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

    def _handle_v2(self, request: Request, seg: list[str]) -> Response:
        # seg: v2 projects P locations L <rest...>
        if len(seg) < 6 or seg[1] != "projects" or seg[3] != "locations":
            return Response(404, google_error(404, f"fake: no route for {request.path}"))
        project, region, rest = seg[2], seg[4], seg[5:]
        method = request.method
        if rest[0] == "jobs" and len(rest) == 2:
            job, _, verb = rest[1].partition(":")
            if method == "POST" and verb == "run":
                return self._v2_run(request, project, region, job)
            if method == "GET" and not verb:
                return self._v2_get_job(project, region, job)
        if rest[0] == "jobs" and len(rest) >= 3 and rest[2] == "executions":
            job = rest[1]
            if not self._has_job(project, region, job):
                return self._job_not_found(project, region, job)
            if method == "GET" and len(rest) == 3:
                return self._v2_list_executions(request, project, region, job)
            if len(rest) == 4:
                short, _, verb = rest[3].partition(":")
                name = f"projects/{project}/locations/{region}/jobs/{job}/executions/{short}"
                if method == "GET" and not verb:
                    return self._v2_get_execution(name)
                if method == "POST" and verb == "cancel":
                    return self._v2_cancel_execution(name)
        if rest[0] == "operations" and len(rest) == 2 and method == "GET":
            name = f"projects/{project}/locations/{region}/operations/{rest[1]}"
            return self._v2_get_operation(name)
        return Response(404, google_error(404, f"fake: no route for {method} {request.path}"))

    def _admit_run(self, project: str, region: str, job: str) -> Response | None:
        """What every :run (v1 or v2) goes through first: latency, a queued fault, the job."""
        if self.latency:
            time.sleep(self.latency)
        fault = self._fault()
        if fault is not None:
            return fault
        if not self._has_job(project, region, job):
            return self._job_not_found(project, region, job)
        return None

    # --- v2 -----------------------------------------------------------------------
    def _v2_run(self, request: Request, project: str, region: str, job: str) -> Response:
        refused = self._admit_run(project, region, job)
        if refused is not None:
            return refused
        body = request.json()
        overrides = body.get("overrides") or {}
        execution = self._new_execution(project, region, job, overrides)
        operation = self._new_operation(execution)
        self._record_run("v2", execution, body, overrides)
        return Response(200, self._v2_operation_json(operation))

    def _new_operation(self, execution: _Execution) -> _Operation:
        operation = _Operation(
            name=f"projects/{execution.project}/locations/{execution.region}"
            f"/operations/{uuid.uuid4()}",
            execution=execution.name,
        )
        with self._lock:
            self._operations[operation.name] = operation
        return operation

    def _v2_get_job(self, project: str, region: str, job: str) -> Response:
        if not self._has_job(project, region, job):
            return self._job_not_found(project, region, job)
        with self._lock:
            mine = [e for e in self._executions.values() if e.job == job]
        latest = max(mine, key=lambda e: e.created) if mine else None
        payload: dict[str, Any] = {
            "name": f"projects/{project}/locations/{region}/jobs/{job}",
            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{project}/{region}/{job}")),
            "generation": "1",
            "createTime": rfc3339(self._created),
            "launchStage": "GA",
            "template": self._v2_template(1, DEFAULT_TASK_TIMEOUT, {}),
            "observedGeneration": "1",
            "terminalCondition": {"type": "Ready", "state": "CONDITION_SUCCEEDED"},
            "executionCount": len(mine),
        }
        if latest is not None:
            payload["latestCreatedExecution"] = {
                "name": latest.name,
                "createTime": rfc3339(latest.created),
            }
        return Response(200, payload)

    def _v2_template(self, task_count: int, timeout: str, env: dict[str, str]) -> dict:
        return {
            "taskCount": task_count,
            "parallelism": task_count,
            "template": {
                "containers": [
                    {
                        "image": DEFAULT_IMAGE.format(project=self.project),
                        "env": [
                            {"name": k, "value": v} for k, v in {**self.job_env, **env}.items()
                        ],
                    }
                ],
                "timeout": timeout,
                "maxRetries": DEFAULT_MAX_RETRIES,
            },
        }

    def _v2_execution_json(self, execution: _Execution) -> dict[str, Any]:
        outcome, completed = self._state(execution)
        created = rfc3339(execution.created)
        tasks = execution.task_count
        payload: dict[str, Any] = {
            "name": execution.name,
            "uid": execution.uid,
            "generation": "1",
            "createTime": created,
            "startTime": created,
            "updateTime": rfc3339(completed or execution.created),
            "launchStage": "GA",
            "job": execution.job,
            "parallelism": tasks,
            "taskCount": tasks,
            "template": self._v2_template(tasks, execution.timeout, execution.env)["template"],
            "reconciling": outcome is None,
            "observedGeneration": "1",
            "runningCount": tasks if outcome is None else 0,
            "succeededCount": tasks if outcome == "succeeded" else 0,
            "failedCount": tasks if outcome == "failed" else 0,
            "cancelledCount": tasks if outcome == "cancelled" else 0,
            "logUri": (
                "https://console.cloud.google.com/logs/viewer?project="
                f"{execution.project}&resource=cloud_run_job/job_name/{execution.job}"
            ),
            "etag": f'"{execution.uid[:8]}"',
        }
        ready = {"state": "CONDITION_SUCCEEDED", "lastTransitionTime": created}
        conditions = [
            {"type": "ResourcesAvailable", **ready},
            {"type": "Started", **ready},
        ]
        if outcome is None:
            completed_condition = {
                "type": "Completed",
                "state": "CONDITION_RECONCILING",
                "lastTransitionTime": created,
            }
        else:
            payload["completionTime"] = rfc3339(completed or execution.created)
            completed_condition = {
                "type": "Completed",
                "lastTransitionTime": payload["completionTime"],
            }
            if outcome == "succeeded":
                completed_condition["state"] = "CONDITION_SUCCEEDED"
                completed_condition["message"] = "Execution completed successfully."
            elif outcome == "failed":
                completed_condition["state"] = "CONDITION_FAILED"
                completed_condition["executionReason"] = "NON_ZERO_EXIT_CODE"
                completed_condition["message"] = (
                    f"Task {execution.short}-task0 failed with message: "
                    "The container exited with an exit code of 1."
                )
            else:
                completed_condition["state"] = "CONDITION_FAILED"
                completed_condition["executionReason"] = "CANCELLED"
                completed_condition["message"] = "The execution was cancelled."
        payload["conditions"] = [completed_condition, *conditions]
        return payload

    def _v2_operation_json(self, operation: _Operation) -> dict[str, Any]:
        with self._lock:
            execution = self._executions[operation.execution]
        body = self._v2_execution_json(execution)
        payload: dict[str, Any] = {
            "name": operation.name,
            "metadata": {"@type": EXECUTION_TYPE_URL, **body},
            "done": "completionTime" in body,
        }
        if payload["done"]:
            outcome, _ = self._state(execution)
            if outcome == "succeeded":
                payload["response"] = {"@type": EXECUTION_TYPE_URL, **body}
            else:
                message = body["conditions"][0].get("message", outcome)
                payload["error"] = {"code": FAILED_OPERATION_CODE, "message": message}
        return payload

    def _v2_get_execution(self, name: str) -> Response:
        with self._lock:
            execution = self._executions.get(name)
        if execution is None:
            return Response(404, google_error(404, f"Execution '{name}' does not exist."))
        return Response(200, self._v2_execution_json(execution))

    def _v2_list_executions(
        self, request: Request, project: str, region: str, job: str
    ) -> Response:
        with self._lock:
            mine = [
                e
                for e in self._executions.values()
                if (e.project, e.region, e.job) == (project, region, job)
            ]
        mine.sort(key=lambda e: e.created, reverse=True)  # newest first, like the API
        start = int((request.query.get("pageToken") or ["0"])[0] or 0)
        size = int((request.query.get("pageSize") or ["0"])[0] or 0) or len(mine) or 1
        page = mine[start : start + size]
        payload: dict[str, Any] = {"executions": [self._v2_execution_json(e) for e in page]}
        if start + size < len(mine):
            payload["nextPageToken"] = str(start + size)
        return Response(200, payload)

    def _v2_cancel_execution(self, name: str) -> Response:
        with self._lock:
            execution = self._executions.get(name)
        if execution is None:
            return Response(404, google_error(404, f"Execution '{name}' does not exist."))
        outcome, _ = self._state(execution)
        if outcome is None:
            with self._lock:
                execution.outcome = "cancelled"
                execution.finished = time.time()
        operation = self._new_operation(execution)
        return Response(200, self._v2_operation_json(operation))

    def _v2_get_operation(self, name: str) -> Response:
        with self._lock:
            operation = self._operations.get(name)
        if operation is None:
            return Response(404, google_error(404, f"Operation '{name}' does not exist."))
        return Response(200, self._v2_operation_json(operation))

    # --- v1 (gcloud) --------------------------------------------------------------
    def _handle_v1(self, request: Request, seg: list[str]) -> Response:
        # seg: namespaces N (jobs|executions) NAME[:verb]
        if len(seg) != 4 or seg[0] != "namespaces":
            return Response(404, google_error(404, f"fake: no route for {request.path}"))
        namespace, kind = seg[1], seg[2]
        name, _, verb = seg[3].partition(":")
        # v1 paths carry no region: gcloud picks the regional host (R-run.fake.test).
        region = self._region_from_host(request.host)
        project = self.project if namespace in (self.project, self.project_number) else namespace
        if kind == "jobs":
            if request.method == "GET" and not verb:
                return self._v1_get_job(project, region, name)
            if request.method == "POST" and verb == "run":
                return self._v1_run(request, project, region, name)
        if kind == "executions" and request.method == "GET" and not verb:
            return self._v1_get_execution(project, region, name)
        return Response(
            404, google_error(404, f"fake: no route for {request.method} {request.path}")
        )

    def _region_from_host(self, host: str) -> str:
        name = host.rpartition(":")[0] if ":" in host else host
        suffix = f"-run.{FAKE_DOMAIN}"
        return name[: -len(suffix)] if name.endswith(suffix) else self.region

    @property
    def _namespace(self) -> str:
        return self.project_number or self.project

    def _v1_containers(self, env: Mapping[str, str]) -> list[dict[str, Any]]:
        return [
            {
                "image": DEFAULT_IMAGE.format(project=self.project),
                "env": [{"name": k, "value": v} for k, v in {**self.job_env, **env}.items()],
                "resources": {"limits": {"cpu": "1000m", "memory": "512Mi"}},
            }
        ]

    def _v1_get_job(self, project: str, region: str, job: str) -> Response:
        if not self._has_job(project, region, job):
            return self._job_not_found(project, region, job)
        with self._lock:
            mine = [e for e in self._executions.values() if e.job == job]
        status: dict[str, Any] = {
            "observedGeneration": 1,
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(self._created)}
            ],
            "executionCount": len(mine),
        }
        if mine:
            latest = max(mine, key=lambda e: e.created)
            status["latestCreatedExecution"] = {
                "name": latest.short,
                "creationTimestamp": rfc3339(latest.created),
            }
        return Response(
            200,
            {
                "apiVersion": V1_API_VERSION,
                "kind": "Job",
                "metadata": {
                    "name": job,
                    "namespace": self._namespace,
                    "selfLink": f"{V1_PREFIX}/namespaces/{self._namespace}/jobs/{job}",
                    "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{project}/{region}/{job}")),
                    "resourceVersion": "AAAAAAAAAAE",
                    "generation": 1,
                    "creationTimestamp": rfc3339(self._created),
                    "labels": {"cloud.googleapis.com/location": region},
                    "annotations": {"run.googleapis.com/launch-stage": "GA"},
                },
                "spec": {
                    "template": {
                        "metadata": {"annotations": {}},
                        "spec": {
                            "taskCount": 1,
                            "template": {
                                "spec": {
                                    "containers": self._v1_containers({}),
                                    "maxRetries": DEFAULT_MAX_RETRIES,
                                    "timeoutSeconds": DEFAULT_TASK_TIMEOUT.rstrip("s"),
                                }
                            },
                        },
                    }
                },
                "status": status,
            },
        )

    def _v1_run(self, request: Request, project: str, region: str, job: str) -> Response:
        refused = self._admit_run(project, region, job)
        if refused is not None:
            return refused
        body = request.json()
        v1_overrides = body.get("overrides") or {}
        # v1 says timeoutSeconds (an int); record it the v2 way ("600s").
        overrides = dict(v1_overrides)
        if v1_overrides.get("timeoutSeconds") is not None:
            overrides["timeout"] = f"{v1_overrides['timeoutSeconds']}s"
        execution = self._new_execution(project, region, job, overrides)
        self._record_run("v1", execution, body, overrides)
        return Response(200, self._v1_execution_json(execution))

    def _v1_get_execution(self, project: str, region: str, short: str) -> Response:
        with self._lock:
            found = [
                e
                for e in self._executions.values()
                if (e.project, e.region, e.short) == (project, region, short)
            ]
        if not found:
            return Response(
                404,
                google_error(
                    404,
                    f"Resource '{short}' of kind 'EXECUTION' in region '{region}' "
                    f"in project '{project}' does not exist.",
                ),
            )
        return Response(200, self._v1_execution_json(found[0]))

    def _v1_execution_json(self, execution: _Execution) -> dict[str, Any]:
        outcome, completed = self._state(execution)
        created = rfc3339(execution.created)
        tasks = execution.task_count
        ready = {"status": "True", "lastTransitionTime": created}
        completed_condition: dict[str, Any] = {"type": "Completed", "status": "Unknown"}
        status: dict[str, Any] = {
            "observedGeneration": 1,
            "startTime": created,
            "runningCount": tasks if outcome is None else 0,
            "logUri": (
                "https://console.cloud.google.com/logs/viewer?project="
                f"{execution.project}&resource=cloud_run_job/job_name/{execution.job}"
            ),
        }
        if outcome is not None:
            status["completionTime"] = rfc3339(completed or execution.created)
            completed_condition["lastTransitionTime"] = status["completionTime"]
            if outcome == "succeeded":
                completed_condition["status"] = "True"
                completed_condition["message"] = "Execution completed successfully."
                status["succeededCount"] = tasks
            elif outcome == "failed":
                completed_condition.update(
                    status="False",
                    reason="NonZeroExitCode",
                    message=f"Task {execution.short}-task0 failed with message: "
                    "The container exited with an exit code of 1.",
                )
                status["failedCount"] = tasks
            else:
                completed_condition.update(
                    status="False", reason="Cancelled", message="The execution was cancelled."
                )
                status["cancelledCount"] = tasks
        status["conditions"] = [
            completed_condition,
            {"type": "ResourcesAvailable", **ready},
            {"type": "Started", **ready},
        ]
        return {
            "apiVersion": V1_API_VERSION,
            "kind": "Execution",
            "metadata": {
                "name": execution.short,
                "namespace": self._namespace,
                "selfLink": (
                    f"{V1_PREFIX}/namespaces/{self._namespace}/executions/{execution.short}"
                ),
                "uid": execution.uid,
                "resourceVersion": "AAAAAAAAAAE",
                "generation": 1,
                "creationTimestamp": created,
                "labels": {
                    "cloud.googleapis.com/location": execution.region,
                    "run.googleapis.com/job": execution.job,
                },
                "ownerReferences": [
                    {
                        "kind": "Job",
                        "name": execution.job,
                        "apiVersion": V1_API_VERSION,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "parallelism": tasks,
                "taskCount": tasks,
                "template": {
                    "spec": {
                        "containers": self._v1_containers(execution.env),
                        "maxRetries": DEFAULT_MAX_RETRIES,
                        "timeoutSeconds": execution.timeout.rstrip("s"),
                    }
                },
            },
            "status": status,
        }


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.cloudrun", description="Fake Cloud Run Admin API."
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each :run waits")
    parser.add_argument("--url-file", type=Path, help="write the base URL here once listening")
    parser.add_argument("--project", default="test-project")
    parser.add_argument("--region", default="europe-west1")
    parser.add_argument(
        "--job", action="append", dest="jobs", help="a job name (repeatable; default numerai-job)"
    )
    parser.add_argument(
        "--execution-seconds",
        type=float,
        default=None,
        help="executions succeed this long after they start (default: never)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)
    fake = FakeCloudRun(
        project=args.project,
        region=args.region,
        jobs=args.jobs or ("numerai-job",),
        latency=args.latency,
        port=args.port,
        execution_seconds=args.execution_seconds,
        verbose=not args.quiet,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with fake:
        if args.url_file:
            _write_atomically(args.url_file, fake.url + "\n")
        print(f"fake Cloud Run listening on {fake.url}", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
