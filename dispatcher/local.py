"""``DISPATCH_MODE=local``: run ``python -m job`` as a subprocess instead of on Cloud Run.

For the demo and rehearsals on a laptop. The launch answers at once with a local
execution name, as the Cloud Run API does; the job runs in the background with the
environment overrides a Cloud Run execution gets, its output kept in
``<executions dir>/<execution>.log``. ``executions()`` reports each one's state and
exit code (served at ``GET /local/executions``) so a caller can wait for completion.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.contract import DEFAULT_JOB
from dispatcher.launcher import Launched, LaunchRequest
from dispatcher.settings import EXECUTIONS_DIR_ENV, TOKEN_ENV, LocalSettings, SettingsError

log = logging.getLogger(__name__)

# The repository root: `python -m job` must run where the `job` package is importable.
REPO_ROOT = Path(__file__).resolve().parent.parent
JOB_COMMAND = (sys.executable, "-m", "job")
# Jobs running at once. Each loads polars + CatBoost (~170 MB) and keeps a core busy,
# so a laptop runs two side by side; more webhooks queue, like executions waiting for
# Cloud Run capacity.
MAX_CONCURRENT_JOBS = 2
# On shutdown, how long a running job gets after SIGTERM before it is killed.
TERMINATE_GRACE_S = 5.0
# Local execution ids: "local-" + 8 hex characters, unique enough for a laptop's runs.
_ID_BYTES = 4
# The dispatcher's own secret: the job never needs it, so the child never sees it.
_NOT_INHERITED = (TOKEN_ENV,)

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"


@dataclass
class LocalExecution:
    name: str
    request: LaunchRequest
    log_path: Path
    status: str = QUEUED  # queued → running → succeeded | failed
    exit_code: int | None = None
    error: str | None = None
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    finished: str | None = None

    @property
    def done(self) -> bool:
        return self.status in (SUCCEEDED, FAILED)

    def to_json(self) -> dict[str, Any]:
        return {
            "execution": self.name,
            "model_id": self.request.model_id,
            "model_name": self.request.model_name,
            "round": self.request.round,
            "trigger_id": self.request.trigger_id,
            "status": self.status,
            "exit_code": self.exit_code,
            "error": self.error,
            "log": str(self.log_path),
            "created": self.created,
            "finished": self.finished,
        }


class LocalLauncher:
    """``Launcher`` that runs the job as a local subprocess, a bounded number at a time."""

    def __init__(
        self,
        executions_dir: Path,
        *,
        environ: Mapping[str, str],
        command: Sequence[str] = JOB_COMMAND,
        cwd: Path = REPO_ROOT,
        max_concurrent: int = MAX_CONCURRENT_JOBS,
    ) -> None:
        self._dir = executions_dir
        self._environ = {k: v for k, v in environ.items() if k not in _NOT_INHERITED}
        self._command = tuple(command)
        self._cwd = cwd
        self._slots = asyncio.Semaphore(max_concurrent)
        self._executions: dict[str, LocalExecution] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._closing = False

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, settings: LocalSettings, *, environ: Mapping[str, str] | None = None, **kwargs: Any
    ) -> AsyncIterator[LocalLauncher]:
        """Create the executions directory; on exit stop whatever still runs."""
        executions_dir = settings.executions_dir.resolve()
        try:
            executions_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SettingsError(
                f"{EXECUTIONS_DIR_ENV} {executions_dir}: cannot create it: {exc}"
            ) from None
        launcher = cls(executions_dir, environ=os.environ if environ is None else environ, **kwargs)
        try:
            yield launcher
        finally:
            await launcher.close()

    async def launch(self, request: LaunchRequest) -> Launched:
        name = f"local-{secrets.token_hex(_ID_BYTES)}"
        execution = LocalExecution(name=name, request=request, log_path=self._dir / f"{name}.log")
        self._executions[name] = execution
        task = asyncio.ensure_future(self._run(execution))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        full_name = f"local/jobs/{request.job or DEFAULT_JOB}/executions/{name}"
        return Launched(execution=name, execution_name=full_name)

    def executions(self) -> list[dict[str, Any]]:
        return [execution.to_json() for execution in self._executions.values()]

    def execution(self, name: str) -> dict[str, Any] | None:
        execution = self._executions.get(name)
        return None if execution is None else execution.to_json()

    async def _run(self, execution: LocalExecution) -> None:
        try:
            async with self._slots:
                if self._closing:
                    self._finish(execution, None, "not started: the dispatcher was shutting down")
                    return
                await self._run_job(execution)
        except asyncio.CancelledError:
            if not execution.done:
                self._finish(execution, None, "stopped: the dispatcher shut down")
            raise

    async def _run_job(self, execution: LocalExecution) -> None:
        env = {**self._environ, **execution.request.env(), "PYTHONUNBUFFERED": "1"}
        try:
            with execution.log_path.open("ab") as out:
                proc = await asyncio.create_subprocess_exec(
                    *self._command,
                    cwd=self._cwd,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=asyncio.subprocess.STDOUT,
                )
        except OSError as exc:
            self._finish(execution, None, f"cannot start the job: {exc}")
            return
        execution.status = RUNNING
        self._procs[execution.name] = proc
        try:
            code = await proc.wait()
        finally:
            self._procs.pop(execution.name, None)
        self._finish(execution, code, None if code == 0 else f"job exited with code {code}")

    def _finish(self, execution: LocalExecution, code: int | None, error: str | None) -> None:
        execution.exit_code = code
        execution.error = error
        execution.status = SUCCEEDED if code == 0 else FAILED
        execution.finished = dt.datetime.now(dt.UTC).isoformat()
        request = execution.request
        log.log(
            logging.INFO if code == 0 else logging.ERROR,
            "local execution %s %s%s",
            execution.name,
            execution.status,
            f": {error}" if error else "",
            extra={
                "labels": {
                    "model_id": request.model_id,
                    "round": request.round,
                    "trigger_id": request.trigger_id,
                },
                "fields": {
                    "event": "local_execution",
                    "execution": execution.name,
                    "status": execution.status,
                    "exit_code": code,
                    "log": str(execution.log_path),
                },
            },
        )

    async def close(self) -> None:
        """Stop what still runs: SIGTERM, SIGKILL after a grace period; drop the queue."""
        self._closing = True
        for proc in list(self._procs.values()):
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=TERMINATE_GRACE_S)
        for proc in list(self._procs.values()):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
