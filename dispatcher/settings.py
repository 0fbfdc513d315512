"""The dispatcher's settings: one frozen dataclass built once from the environment.

Validated at startup; every error names the variable (or the registry file and entry),
and ``python -m dispatcher`` turns it into one line and exit code 2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from common.contract import CLOUD_RUN_API_ENDPOINT_ENV as API_ENDPOINT_ENV
from common.contract import DEFAULT_JOB, PROJECT_ENV
from common.contract import WEBHOOK_TOKEN_ENV as TOKEN_ENV
from common.contract import WEBHOOK_TOKEN_PREVIOUS_ENV as PREVIOUS_TOKEN_ENV
from common.registry import JOB_NAME, Registry, RegistryError, load_registry, registry_path

PORT_ENV = "PORT"
HOST_ENV = "LISTEN_HOST"
MODE_ENV = "DISPATCH_MODE"
REGION_ENV = "CLOUD_RUN_REGION"
JOB_ENV = "CLOUD_RUN_JOB"
EXECUTIONS_DIR_ENV = "LOCAL_EXECUTIONS_DIR"

DEFAULT_PORT = 8080  # Cloud Run's default $PORT
DEFAULT_EXECUTIONS_DIR = ".demo/executions"

# Cloud Run routes requests to the container's interface; a local run serves this machine
# only, so a laptop's dispatcher (no token needed there) is not reachable from the network.
CLOUD_RUN_HOST = "0.0.0.0"
LOCAL_HOST = "127.0.0.1"
# A Cloud Run region such as europe-west1 or us-central1.
_REGION = re.compile(r"^[a-z]+(?:-[a-z]+)*\d+$")
# GCP project ids: 6-30 lowercase letters, digits, hyphens; "domain.com:" prefix allowed.
_PROJECT = re.compile(r"^(?:[a-z][-a-z0-9.]*:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_MIN_PORT, _MAX_PORT = 1, 65535
# Shortest shared secret we accept: anything shorter can be guessed by a scanner.
MIN_TOKEN_LENGTH = 16


class SettingsError(Exception):
    """A setting is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class RetryPolicy:
    """How the Cloud Run launcher retries named transient errors.

    Numerai waits only seconds for the webhook's answer and retries on its own, so the
    whole launch, retries included, stays within ``budget_s``.
    """

    # One call plus two retries: a blip in the API is usually gone within a second.
    attempts: int = 3
    # First pause between attempts; doubled after each one (0.25 s, 0.5 s).
    backoff_s: float = 0.25
    # One RunJob call normally answers in ~0.3 s; 5 s means the API is in trouble.
    call_timeout_s: float = 5.0
    # All attempts together; below the shutdown grace (9 s) so an in-flight webhook
    # still gets its answer when Cloud Run stops the instance.
    budget_s: float = 7.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff_s < 0 or min(self.call_timeout_s, self.budget_s) <= 0:
            raise SettingsError(f"invalid retry policy {self}")


@dataclass(frozen=True)
class CloudRunSettings:
    """Launch on Cloud Run through the Admin API (production)."""

    MODE: ClassVar[str] = "cloudrun"
    HOST: ClassVar[str] = CLOUD_RUN_HOST
    project: str
    region: str
    default_job: str = DEFAULT_JOB
    # None → the real API with Application Default Credentials; a URL → a local fake,
    # with anonymous credentials.
    api_endpoint: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def job_name(self, job: str | None) -> str:
        """The resource name of ``job`` (a registry entry's), else of the default job."""
        return f"projects/{self.project}/locations/{self.region}/jobs/{job or self.default_job}"


@dataclass(frozen=True)
class LocalSettings:
    """Run ``python -m job`` as a local subprocess (the demo, rehearsals)."""

    MODE: ClassVar[str] = "local"
    HOST: ClassVar[str] = LOCAL_HOST
    executions_dir: Path = Path(DEFAULT_EXECUTIONS_DIR)


# Where launches go: exactly one backend, chosen by DISPATCH_MODE.
Backend = CloudRunSettings | LocalSettings
MODES = {backend.MODE: backend for backend in (CloudRunSettings, LocalSettings)}


@dataclass(frozen=True)
class Settings:
    registry: Registry
    backend: Backend
    port: int = DEFAULT_PORT
    # repr=False: the settings may be printed or logged; the secrets must not be.
    webhook_token: str | None = field(default=None, repr=False)
    # Accepted too while a rotation is under way (until Numerai has the new URLs).
    previous_token: str | None = field(default=None, repr=False)
    host: str | None = None  # None: the backend's own (0.0.0.0 on Cloud Run, else loopback)

    @property
    def mode(self) -> str:
        return self.backend.MODE

    @property
    def tokens(self) -> tuple[str, ...]:
        """Every token a webhook may carry; empty when none is required (local mode)."""
        return tuple(t for t in (self.webhook_token, self.previous_token) if t)

    @property
    def listen_host(self) -> str:
        return self.host or self.backend.HOST

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build and validate the settings; raise SettingsError naming the variable."""
        mode = (environ.get(MODE_ENV) or CloudRunSettings.MODE).strip().lower()
        if mode not in MODES:
            raise SettingsError(f"{MODE_ENV} must be one of {', '.join(MODES)} (got {mode!r})")
        port = _port(environ.get(PORT_ENV))
        token = _token(environ, TOKEN_ENV)
        previous = _token(environ, PREVIOUS_TOKEN_ENV)
        if previous is not None and token is None:
            raise SettingsError(f"{PREVIOUS_TOKEN_ENV} is set without {TOKEN_ENV}")
        try:
            registry = load_registry(registry_path(environ))
        except RegistryError as exc:
            raise SettingsError(str(exc)) from None
        backend: Backend
        if mode == LocalSettings.MODE:
            executions_dir = Path(environ.get(EXECUTIONS_DIR_ENV) or DEFAULT_EXECUTIONS_DIR)
            backend = LocalSettings(executions_dir=executions_dir)
        else:
            if token is None:
                raise SettingsError(
                    f"{TOKEN_ENV} is required when {MODE_ENV}={mode} "
                    "(the shared secret every webhook carries as ?token=…)"
                )
            backend = CloudRunSettings(
                project=_required(environ, PROJECT_ENV, _PROJECT, "a Google Cloud project id"),
                region=_required(environ, REGION_ENV, _REGION, "a Cloud Run region (europe-west1)"),
                default_job=_job(environ.get(JOB_ENV)),
                api_endpoint=_endpoint(environ.get(API_ENDPOINT_ENV)),
            )
        return cls(
            registry=registry,
            backend=backend,
            port=port,
            webhook_token=token,
            previous_token=previous,
            host=(environ.get(HOST_ENV) or "").strip() or None,
        )


def _token(environ: Mapping[str, str], name: str) -> str | None:
    """A webhook token as set, checked; the value itself never appears in an error."""
    token = environ.get(name)
    if not token:
        return None
    if token != token.rstrip("\r\n"):
        # A secret created with `echo` instead of `printf`/`echo -n`: every webhook would
        # answer 401, because the URL Numerai has cannot carry the newline.
        raise SettingsError(
            f"{name} ends with a newline: store the secret without one "
            "(printf '%s' TOKEN | gcloud secrets versions add …) and redeploy"
        )
    if any(c.isspace() or not c.isprintable() for c in token):
        raise SettingsError(f"{name} holds whitespace or control characters: regenerate it")
    if len(token) < MIN_TOKEN_LENGTH:
        raise SettingsError(f"{name} is too short: use at least {MIN_TOKEN_LENGTH} characters")
    return token


def _port(raw: str | None) -> int:
    if raw is None or not raw.strip():
        return DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{PORT_ENV} must be a port number (got {raw!r})") from None
    if not _MIN_PORT <= port <= _MAX_PORT:
        raise SettingsError(f"{PORT_ENV} must be between {_MIN_PORT} and {_MAX_PORT} (got {port})")
    return port


def _required(environ: Mapping[str, str], name: str, pattern: re.Pattern[str], what: str) -> str:
    value = (environ.get(name) or "").strip()
    if not value:
        raise SettingsError(f"{name} is required when {MODE_ENV}={CloudRunSettings.MODE} ({what})")
    if not pattern.match(value):
        raise SettingsError(f"{name} {value!r} is not {what}")
    return value


def _job(raw: str | None) -> str:
    job = (raw or "").strip() or DEFAULT_JOB
    if not JOB_NAME.match(job):
        raise SettingsError(f"{JOB_ENV} {job!r} is not a valid Cloud Run job name")
    return job


def _endpoint(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    value = raw.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        raise SettingsError(
            f"{API_ENDPOINT_ENV} must be a base URL such as http://127.0.0.1:8123 (got {raw!r})"
        )
    return value
