"""What the Cloud Run fake keeps (runs, executions, operations) and what v1 and v2
report alike about them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_IMAGE = "europe-west1-docker.pkg.dev/{project}/numerai/job:latest"
# Cloud Run's default task timeout (10 minutes) and retries (3), reported in templates.
DEFAULT_TASK_TIMEOUT = "600s"
DEFAULT_MAX_RETRIES = 3
# What a deployed job's container already sets (docs/reference.md, job logs); overrides
# add to it.
DEFAULT_JOB_ENV = {"LOG_FORMAT": "json"}

# Who a run is recorded as created by when the fake does not know its caller's token
# (``CloudRunState.creators``): Cloud Run itself always knows the authenticated account.
UNKNOWN_CREATOR = "someone@fake.test"
# v1 shows the creator as this annotation (gcloud's "RUN BY" column); v2 as ``creator``.
CREATOR_ANNOTATION = "run.googleapis.com/creator"

# Completed-condition messages (v1 and v2 report the same).
SUCCEEDED_MESSAGE = "Execution completed successfully."
CANCELLED_MESSAGE = "The execution was cancelled."


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
class Execution:
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
    creator: str = UNKNOWN_CREATOR  # the account that ran it (an e-mail address)

    @property
    def name(self) -> str:
        return (
            f"projects/{self.project}/locations/{self.region}/jobs/{self.job}"
            f"/executions/{self.short}"
        )


@dataclass
class Operation:
    name: str
    execution: str  # full execution name


def failed_message(execution: Execution) -> str:
    """The completed condition's message for a failed execution (its first task)."""
    return (
        f"Task {execution.short}-task0 failed with message: "
        "The container exited with an exit code of 1."
    )


def log_uri(execution: Execution) -> str:
    """The Cloud Console link to the job's logs, as both API versions report it."""
    return (
        "https://console.cloud.google.com/logs/viewer?project="
        f"{execution.project}&resource=cloud_run_job/job_name/{execution.job}"
    )


def container_env(job_env: Mapping[str, str], env: Mapping[str, str]) -> list[dict[str, Any]]:
    """A container's env list: the job's own, then the execution's overrides on top."""
    return [{"name": k, "value": v} for k, v in {**job_env, **env}.items()]


def job_uid(project: str, region: str, job: str) -> str:
    """A job's uid: stable for its name, the same in v1 and v2 answers."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{project}/{region}/{job}"))
