"""Where and what to deploy: built once from the environment (make variables), validated.

``make setup PROJECT=my-proj REGION=europe-west1`` puts the variables in the
environment of the recipe; flags of ``python -m ops`` win over them. PROJECT and
REGION fall back to ``gcloud config get-value project`` / ``run/region``; REGION then
to DEFAULT_REGION (also cloudbuild.yaml's ``_REGION`` default) so that setup and
release always agree. Every error names the variable at fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from common.contract import DEFAULT_JOB
from common.registry import registry_path

DEFAULT_REGION = "us-central1"
DEFAULT_REPOSITORY = "numerai"
DEFAULT_JOB_NAME = DEFAULT_JOB
DEFAULT_SERVICE_NAME = "numerai-dispatcher"
# Service account ids (the part before @PROJECT.iam.gserviceaccount.com).
DEFAULT_JOB_SA = "numerai-job"
DEFAULT_DISPATCHER_SA = "numerai-dispatcher"
DEFAULT_BUILD_SA = "numerai-build"
# The identity Cloud Scheduler runs the job as (`make schedule`): may run the job, nothing else.
DEFAULT_SCHEDULER_SA = "numerai-scheduler"


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})
# Project ids: 6–30 characters, lowercase letters, digits, hyphens, starting with a letter.
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
# Cloud Run job/service names and Artifact Registry repository ids share this shape.
_RESOURCE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
# Service account ids: 6–30 characters.
_ACCOUNT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class ConfigError(Exception):
    """Bad input: exit code 2. The message names the variable."""


@dataclass(frozen=True)
class OpsSettings:
    project: str
    region: str
    repository: str
    job_name: str
    service_name: str
    job_sa: str
    dispatcher_sa: str
    build_sa: str
    dry_run: bool
    models_file: Path
    scheduler_sa: str = DEFAULT_SCHEDULER_SA

    def sa_email(self, account_id: str) -> str:
        return f"{account_id}@{self.project}.iam.gserviceaccount.com"

    @property
    def job_sa_email(self) -> str:
        return self.sa_email(self.job_sa)

    @property
    def dispatcher_sa_email(self) -> str:
        return self.sa_email(self.dispatcher_sa)

    @property
    def build_sa_email(self) -> str:
        return self.sa_email(self.build_sa)

    @property
    def scheduler_sa_email(self) -> str:
        return self.sa_email(self.scheduler_sa)

    @property
    def staging_bucket(self) -> str:
        # gcloud builds submit's own default bucket name; created by setup so the build
        # service account can be given read access to it alone.
        return f"gs://{self.project}_cloudbuild"


def parse_flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={environ[name]!r}: expected 1/0, true/false, yes/no")


def _pick(
    overrides: Mapping[str, str | None], environ: Mapping[str, str], name: str, default: str
) -> str:
    value = overrides.get(name)
    if value is None:
        value = environ.get(name, "")
    return value.strip() or default


def _check(name: str, value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.match(value):
        raise ConfigError(f"{name}={value!r} is not a valid {what}")
    return value


# OpsSettings field, make variable, default, pattern, what it names (for the error).
_NAMED_RESOURCES = (
    ("repository", "REPOSITORY", DEFAULT_REPOSITORY, _RESOURCE, "Artifact Registry repository id"),
    ("job_name", "JOB_NAME", DEFAULT_JOB_NAME, _RESOURCE, "Cloud Run job name"),
    ("service_name", "SERVICE_NAME", DEFAULT_SERVICE_NAME, _RESOURCE, "Cloud Run service name"),
    ("job_sa", "JOB_SA", DEFAULT_JOB_SA, _ACCOUNT_ID, "service account id"),
    ("dispatcher_sa", "DISPATCHER_SA", DEFAULT_DISPATCHER_SA, _ACCOUNT_ID, "service account id"),
    ("build_sa", "BUILD_SA", DEFAULT_BUILD_SA, _ACCOUNT_ID, "service account id"),
    ("scheduler_sa", "SCHEDULER_SA", DEFAULT_SCHEDULER_SA, _ACCOUNT_ID, "service account id"),
)


def load_settings(
    environ: Mapping[str, str],
    overrides: Mapping[str, str | None],
    config_value: Callable[[str], str | None],
) -> OpsSettings:
    """Build the settings; ``config_value(key)`` asks ``gcloud config get-value``.

    ``overrides`` holds command-line flags (None when not given); they win over env.
    """
    dry_run = parse_flag(environ, "DRY_RUN")
    project = _pick(overrides, environ, "PROJECT", "")
    if not project:
        if dry_run:
            raise ConfigError(
                "PROJECT is not set; with DRY_RUN=1 no gcloud runs, so it cannot be read "
                "from `gcloud config get-value project`: pass PROJECT=<your project id>"
            )
        project = (config_value("project") or "").strip()
        if not project:
            raise ConfigError(
                "PROJECT is not set and `gcloud config get-value project` is empty: "
                "pass PROJECT=<your project id> or run `gcloud config set project <id>`"
            )
    region = _pick(overrides, environ, "REGION", "")
    if not region and not dry_run:
        region = (config_value("run/region") or "").strip()
    region = region or DEFAULT_REGION
    project = _check("PROJECT", project, _PROJECT, "Google Cloud project id")
    region = _check("REGION", region, _REGION, "Cloud Run region (e.g. europe-west1)")
    named = {
        field: _check(var, _pick(overrides, environ, var, default), pattern, what)
        for field, var, default, pattern, what in _NAMED_RESOURCES
    }
    return OpsSettings(
        project=project,
        region=region,
        **named,
        dry_run=dry_run,
        models_file=registry_path(environ),
    )
