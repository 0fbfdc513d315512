"""The seam between the webhook and whatever starts the job.

``CloudRunLauncher`` (production) runs a Cloud Run Job execution through the Admin API;
``LocalLauncher`` (demo, rehearsal) runs ``python -m job`` as a subprocess. Tests may
inject their own implementation of ``Launcher`` for pure HTTP-validation checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# The environment overrides a launch hands to the job: exactly these names (the public
# contract; also what a user passes to `gcloud run jobs execute --update-env-vars`).
MODEL_ID_ENV = "NUMERAI_MODEL_ID"
ROUND_ENV = "NUMERAI_ROUND"
TRIGGER_ID_ENV = "TRIGGER_ID"
IS_TEST_ENV = "NUMERAI_IS_TEST"
OVERRIDE_NAMES = (MODEL_ID_ENV, ROUND_ENV, TRIGGER_ID_ENV, IS_TEST_ENV)


@dataclass(frozen=True)
class LaunchRequest:
    model_id: str  # normalised registry id
    model_name: str
    job: str  # the Cloud Run job: the registry entry's `job`, else CLOUD_RUN_JOB
    round: str  # a round number as text, or "test"
    trigger_id: str
    is_test: bool

    def env(self) -> dict[str, str]:
        """The job's environment overrides, in contract order."""
        return {
            MODEL_ID_ENV: self.model_id,
            ROUND_ENV: self.round,
            TRIGGER_ID_ENV: self.trigger_id,
            IS_TEST_ENV: "true" if self.is_test else "false",
        }


@dataclass(frozen=True)
class Launched:
    execution: str  # short id, e.g. numerai-job-x7k2p
    execution_name: str  # full resource name, projects/…/executions/numerai-job-x7k2p


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
