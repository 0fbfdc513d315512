"""The seam between the webhook and whatever starts the job.

``CloudRunLauncher`` (production) runs a Cloud Run Job execution through the Admin API;
``LocalLauncher`` (demo, rehearsal) runs ``python -m job`` as a subprocess. Tests may
inject their own implementation of ``Launcher`` for pure HTTP-validation checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from common.contract import FALSE, IS_TEST_ENV, MODEL_ID_ENV, ROUND_ENV, TRIGGER_ID_ENV, TRUE


@dataclass(frozen=True)
class LaunchRequest:
    model_id: str  # normalised registry id
    model_name: str
    job: str | None  # the registry entry's Cloud Run job; None: the launcher's default
    round: str  # a round number as text, or "test"
    trigger_id: str
    is_test: bool

    def env(self) -> dict[str, str]:
        """The job's environment overrides, exactly common.contract.OVERRIDE_NAMES."""
        return {
            MODEL_ID_ENV: self.model_id,
            ROUND_ENV: self.round,
            TRIGGER_ID_ENV: self.trigger_id,
            IS_TEST_ENV: TRUE if self.is_test else FALSE,
        }


@dataclass(frozen=True)
class Launched:
    execution: str  # short id, e.g. numerai-job-x7k2p
    execution_name: str  # full resource name, projects/…/executions/numerai-job-x7k2p
    # True when nothing new was started: the execution for this trigger already existed
    # (found after a call whose outcome was unknown).
    existing: bool = False


class LaunchError(Exception):
    """The launch did not happen. ``transient`` → 503 (try again), else → 502."""

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class Launcher(Protocol):
    async def launch(self, request: LaunchRequest) -> Launched:
        """Start one execution and return once it is accepted; raise LaunchError otherwise."""
        ...


def short_execution_id(execution_name: str) -> str:
    """``projects/p/locations/l/jobs/j/executions/j-abc12`` → ``j-abc12``."""
    return execution_name.rstrip("/").rsplit("/", 1)[-1]
