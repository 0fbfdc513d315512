"""Executions that actually run: FakeCloudRun's optional executor hook.

Without an executor, a FakeCloudRun execution only changes state when a test calls
``finish()`` (or after ``execution_seconds``). With one, every accepted run (v2 RunJob
or v1 jobs:run) is handed to the executor in a background thread; what it returns
decides the execution's outcome, and its log entries become what the fake's Cloud
Logging endpoint serves (``fakes/cloudlogging.py``).

``JobProcessExecutor`` is the honest one: each task is ``python -m job`` started with
the environment a Cloud Run task would see — a base environment the test configures
(fake Numerai URL and keys, registry, data dir), the job's own env (``LOG_FORMAT=json``),
the execution's overrides, and ``CLOUD_RUN_JOB``/``CLOUD_RUN_EXECUTION``/
``CLOUD_RUN_TASK_INDEX``/``CLOUD_RUN_TASK_ATTEMPT``/``CLOUD_RUN_TASK_COUNT`` — its output
recorded line by line as the task's logs, its exit code the task's result.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from fakes.cloudlogging import OutputLine, job_log_entries

REPO_ROOT = Path(__file__).resolve().parents[1]
JOB_COMMAND = (sys.executable, "-m", "job")
# A task that runs past its execution's timeout is killed, as Cloud Run does; the
# fake's own default (DEFAULT_TASK_TIMEOUT, 600 s) is far above a test job's seconds.
KILL_GRACE_SECONDS = 5.0
# Exit code recorded for a task killed at its timeout (what a SIGKILLed process reports).
TIMEOUT_EXIT_CODE = -9


@dataclass(frozen=True)
class StartedExecution:
    """What an executor is given: one execution the fake has just accepted."""

    project: str
    region: str
    job: str
    name: str  # projects/P/locations/L/jobs/J/executions/J-xxxxx
    short: str  # J-xxxxx
    env: dict[str, str]  # the job's env with the execution's overrides applied
    task_count: int
    timeout_seconds: float


@dataclass(frozen=True)
class FinishedExecution:
    """What an executor returns: the outcome and the Cloud Logging entries written."""

    succeeded: bool
    log_entries: list[dict[str, Any]] = field(default_factory=list)
    exit_codes: tuple[int, ...] = ()


Executor = Callable[[StartedExecution], FinishedExecution]


@dataclass
class TaskRun:
    index: int
    exit_code: int
    lines: list[OutputLine]
    attempt: int = 0

    @property
    def stdout(self) -> str:
        return "".join(line.text for line in self.lines if line.stream == "stdout")


class JobProcessExecutor:
    """Runs each task of an execution as ``python -m job`` (in parallel, like Cloud Run).

    ``base_env`` is read at each execution, so a test may change it between runs.
    A task that exits non-zero is run again, up to ``max_retries`` times, with
    ``CLOUD_RUN_TASK_ATTEMPT`` counting up, as Cloud Run does with a job's
    ``--max-retries``. ``runs`` keeps every execution's tasks as they ended (short
    execution id → the last attempt of each task); ``attempts`` every attempt.
    """

    def __init__(
        self,
        base_env: Mapping[str, str],
        *,
        command: Sequence[str] = JOB_COMMAND,
        cwd: Path = REPO_ROOT,
        max_retries: int = 0,
    ) -> None:
        self.base_env = dict(base_env)
        self.command = tuple(command)
        self.cwd = cwd
        self.max_retries = max_retries
        self.runs: dict[str, list[TaskRun]] = {}
        self.attempts: dict[str, list[TaskRun]] = {}
        self._lock = threading.Lock()

    def __call__(self, started: StartedExecution) -> FinishedExecution:
        with ThreadPoolExecutor(max_workers=started.task_count) as pool:
            per_task = list(
                pool.map(lambda i: self._task_attempts(started, i), range(started.task_count))
            )
        tasks = [attempts[-1] for attempts in per_task]
        every = [run for attempts in per_task for run in attempts]
        with self._lock:
            self.runs[started.short] = tasks
            self.attempts[started.short] = every
        entries: list[dict[str, Any]] = []
        for task in every:
            entries += job_log_entries(
                project=started.project,
                region=started.region,
                job=started.job,
                execution=started.short,
                task_index=task.index,
                lines=task.lines,
            )
        codes = tuple(t.exit_code for t in tasks)
        return FinishedExecution(all(c == 0 for c in codes), entries, codes)

    def _task_attempts(self, started: StartedExecution, index: int) -> list[TaskRun]:
        attempts = [self._task(started, index, 0)]
        while attempts[-1].exit_code != 0 and len(attempts) <= self.max_retries:
            attempts.append(self._task(started, index, len(attempts)))
        return attempts

    def _task(self, started: StartedExecution, index: int, attempt: int) -> TaskRun:
        env = {
            **self.base_env,
            **started.env,
            "CLOUD_RUN_JOB": started.job,
            "CLOUD_RUN_EXECUTION": started.short,
            "CLOUD_RUN_TASK_INDEX": str(index),
            "CLOUD_RUN_TASK_ATTEMPT": str(attempt),
            "CLOUD_RUN_TASK_COUNT": str(started.task_count),
        }
        proc = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: list[OutputLine] = []
        lock = threading.Lock()
        readers = [
            threading.Thread(target=_read, args=(proc.stdout, "stdout", lines, lock), daemon=True),
            threading.Thread(target=_read, args=(proc.stderr, "stderr", lines, lock), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            code = proc.wait(timeout=started.timeout_seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(KILL_GRACE_SECONDS)
            code = TIMEOUT_EXIT_CODE
        for reader in readers:
            reader.join(KILL_GRACE_SECONDS)
        lines.sort(key=lambda line: line.epoch)
        return TaskRun(index, code, lines, attempt)


def _read(stream: IO[str] | None, name: str, lines: list[OutputLine], lock: threading.Lock) -> None:
    if stream is None:
        return
    for text in stream:
        with lock:
            lines.append(OutputLine(text, time.time(), name))
    stream.close()
