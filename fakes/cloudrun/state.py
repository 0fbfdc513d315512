"""The Cloud Run fake's state: its jobs, the executions and operations it created, the
runs it accepted, and how an execution starts, runs (through an executor) and ends.

``CloudRunState`` is shared by the two API versions (``v2.py``, ``v1.py``); its lock
guards everything, as requests arrive on concurrent handler threads.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from fakes.cloudrun.audit import execution_failed_entry
from fakes.cloudrun.records import (
    DEFAULT_JOB_ENV,
    DEFAULT_TASK_TIMEOUT,
    UNKNOWN_CREATOR,
    Execution,
    Operation,
    RunRecord,
)
from fakes.executions import Executor, FinishedExecution, StartedExecution
from fakes.googleapi import GoogleApiFake, Request, Response, google_error

# A real execution id is the job name plus a 5-character random suffix.
EXECUTION_SUFFIX_LENGTH = 5
EXECUTION_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
# stop() waits this long for executor threads still running a job (they are daemons:
# a stuck one never blocks the interpreter's exit).
EXECUTOR_JOIN_SECONDS = 30.0


class CloudRunState(GoogleApiFake):
    """Jobs, executions, operations and runs; the test controls (``finish``,
    ``wait_executions``) and what every ``:run`` goes through."""

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
        creators: Mapping[str | None, str] | None = None,
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
        # Who each caller is, for the execution's creator: bearer token → account e-mail;
        # the key None is a caller without credentials (google-cloud-run with anonymous
        # credentials, as the dispatcher's tests use). Anyone else is UNKNOWN_CREATOR.
        self.creators: dict[str | None, str] = dict(creators or {})
        # Cloud Logging entries written by executions (served at fake.py's LOGGING_LIST_PATH).
        self.log_entries: list[dict[str, Any]] = []
        self._executor_threads: list[threading.Thread] = []
        self.runs: list[RunRecord] = []
        self._executions: dict[str, Execution] = {}
        self._operations: dict[str, Operation] = {}
        self._created = time.time()
        # Scripted faults of their own (fail_next/hang_next act before a run is admitted).
        self._after_run: list[tuple[int | None, float]] = []  # (status, hang) per :run
        self._listing_failures: list[int] = []

    # --- test controls ------------------------------------------------------------
    def finish(self, execution_name: str, *, succeeded: bool = True) -> None:
        """Mark an execution (full name or short id) as completed."""
        with self._lock:
            execution = self._find_execution(execution_name)
            if execution is None:
                raise KeyError(f"no execution {execution_name!r}")
            execution.outcome = "succeeded" if succeeded else "failed"
            execution.finished = time.time()
            if not succeeded:
                self._log_failure(execution, 0)

    def _log_failure(self, execution: Execution, succeeded_tasks: int) -> None:
        """Cloud Run's own record of a failed execution, whatever its tasks printed
        (``fakes/cloudrun/audit.py``). Called holding the lock."""
        self.log_entries.append(
            execution_failed_entry(
                project=execution.project,
                region=execution.region,
                job=execution.job,
                execution=execution.short,
                succeeded_tasks=succeeded_tasks,
                task_count=execution.task_count,
                epoch=execution.finished or time.time(),
            )
        )

    def fail_after_run(self, count: int, status: int = 500) -> None:
        """The next ``count`` accepted runs start their execution, then answer ``status``:
        what a 500 or 504 from the real API can hide."""
        with self._lock:
            self._after_run.extend([(status, 0.0)] * count)

    def hang_after_run(self, count: int, seconds: float) -> None:
        """The next ``count`` accepted runs start their execution, then wait ``seconds``
        before answering normally (a client with a shorter timeout sees none)."""
        with self._lock:
            self._after_run.extend([(None, seconds)] * count)

    def fail_listing(self, count: int, status: int = 503) -> None:
        """The next ``count`` execution listings answer ``status``."""
        with self._lock:
            self._listing_failures.extend([status] * count)

    def backdate(self, execution_name: str, seconds: float) -> None:
        """Make an execution (full name or short id) ``seconds`` older."""
        with self._lock:
            execution = self._find_execution(execution_name)
            if execution is None:
                raise KeyError(f"no execution {execution_name!r}")
            execution.created -= seconds

    def _after_run_fault(self) -> Response | None:
        """The scripted fault of an accepted run, applied once its execution exists."""
        with self._lock:
            status, hang = self._after_run.pop(0) if self._after_run else (None, 0.0)
        if hang:
            time.sleep(hang)
        if status is not None:
            return Response(status, google_error(status, f"fake: scripted {status} after run"))
        return None

    def _listing_fault(self) -> Response | None:
        with self._lock:
            status = self._listing_failures.pop(0) if self._listing_failures else None
        if status is None:
            return None
        return Response(status, google_error(status, f"fake: scripted {status} on listing"))

    def _find_execution(self, name: str) -> Execution | None:
        if name in self._executions:
            return self._executions[name]
        for execution in self._executions.values():
            if execution.short == name:
                return execution
        return None

    # --- state --------------------------------------------------------------------
    def _state(self, execution: Execution) -> tuple[str | None, float | None]:
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

    def _creator(self, request: Request) -> str:
        """The account a run request authenticated as (Cloud Run's ``creator``)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        key = token if scheme.lower() == "bearer" and token else None
        return self.creators.get(key, UNKNOWN_CREATOR)

    def _new_execution(
        self, project: str, region: str, job: str, overrides: dict, creator: str
    ) -> Execution:
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
            execution = Execution(
                project=project,
                region=region,
                job=job,
                short=short,
                uid=str(uuid.uuid4()),
                created=time.time(),
                task_count=int(task_count) if task_count else 1,
                timeout=overrides.get("timeout") or DEFAULT_TASK_TIMEOUT,
                env=env,
                creator=creator,
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

    def _execute(self, execution: Execution) -> None:
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
                if not finished.succeeded:
                    self._log_failure(execution, sum(c == 0 for c in finished.exit_codes))
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

    def _record_run(self, api: str, execution: Execution, body: dict, overrides: dict) -> None:
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

    def _new_operation(self, execution: Execution) -> Operation:
        operation = Operation(
            name=f"projects/{execution.project}/locations/{execution.region}"
            f"/operations/{uuid.uuid4()}",
            execution=execution.name,
        )
        with self._lock:
            self._operations[operation.name] = operation
        return operation
