"""Smoke stage 2: follow the execution the webhook started, through the Cloud Run Admin API."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.contract import CLOUD_RUN_API_ENDPOINT_ENV
from ops.gcloud import Gcloud
from ops.settings import ConfigError
from ops.smoke.stage import NEEDS_LIBRARIES, Say, SmokeFailed

# The Admin API is polled this often; progress is printed at least every minute.
DEFAULT_POLL_SECONDS = 10.0
PROGRESS_EVERY_SECONDS = 60.0
# Each Admin API call: it answers in well under a second.
API_CALL_TIMEOUT_SECONDS = 30.0
# Consecutive transient Admin API errors tolerated while polling (about a minute).
MAX_POLL_ERRORS = 6
# gcloud access tokens live an hour; fetch a fresh one well before.
ACCESS_TOKEN_LIFETIME = dt.timedelta(minutes=45)


@dataclass(frozen=True)
class Outcome:
    state: str  # "succeeded" | "failed" | "cancelled"
    message: str
    seconds: float


def executions_client(g: Gcloud, environ: Mapping[str, str]) -> Any:
    """google-cloud-run's ExecutionsClient: anonymous at CLOUD_RUN_API_ENDPOINT (a local
    fake), else as the gcloud account. ConfigError when google-cloud-run is missing."""
    try:
        from google.cloud import run_v2
    except ImportError:
        raise ConfigError(NEEDS_LIBRARIES) from None
    endpoint = environ.get(CLOUD_RUN_API_ENDPOINT_ENV, "").strip()
    if endpoint:
        from google.auth.credentials import AnonymousCredentials

        return run_v2.ExecutionsClient(
            transport="rest",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
    from google.oauth2.credentials import Credentials

    def refresh(_request: Any, scopes: Any) -> tuple[str, dt.datetime]:
        token = g.read(["auth", "print-access-token"]) or ""
        # google-auth compares expiry with a naive UTC datetime.
        expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + ACCESS_TOKEN_LIFETIME
        return token, expiry

    return run_v2.ExecutionsClient(
        transport="rest", credentials=Credentials(token=None, refresh_handler=refresh)
    )


def _outcome_of(execution: Any, seconds: float) -> Outcome | None:
    if not execution.completion_time:
        return None
    message = next(
        (c.message for c in execution.conditions if c.type_ == "Completed" and c.message), ""
    )
    if execution.cancelled_count:
        return Outcome("cancelled", message or "the execution was cancelled", seconds)
    if execution.failed_count or execution.succeeded_count < execution.task_count:
        return Outcome("failed", message or "a task failed", seconds)
    return Outcome("succeeded", message, seconds)


def _transient_errors() -> tuple[type[Exception], ...]:
    """The Admin API failures worth another poll (imported here: they live in .venv)."""
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth
    from requests import RequestException

    return (
        api.ServiceUnavailable,
        api.InternalServerError,
        api.GatewayTimeout,
        api.TooManyRequests,
        RequestException,
        auth.TransportError,
    )


def follow_execution(client: Any, name: str, *, timeout: float, poll: float, say: Say) -> Outcome:
    """Poll ``name`` until it finishes; SmokeFailed past ``timeout``, on a refusal, or
    after MAX_POLL_ERRORS transient errors in a row."""
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    transient = _transient_errors()
    short = name.rsplit("/", 1)[-1]
    started = last_progress = time.monotonic()
    errors = 0
    seen = ""
    while True:
        elapsed = time.monotonic() - started
        try:
            execution = client.get_execution(name=name, timeout=API_CALL_TIMEOUT_SECONDS)
        except transient as exc:
            errors += 1
            if errors > MAX_POLL_ERRORS:
                raise SmokeFailed("execution", f"Cloud Run API keeps failing: {exc}") from None
            say(f"  (Cloud Run API: {type(exc).__name__}, trying again)")
        except (api.GoogleAPICallError, auth.GoogleAuthError) as exc:
            raise SmokeFailed("execution", f"Cloud Run API refused to show {name}: {exc}") from None
        else:
            errors = 0
            outcome = _outcome_of(execution, elapsed)
            if outcome is not None:
                return outcome
            state = "running" if execution.running_count else "pending"
            if state != seen or time.monotonic() - last_progress >= PROGRESS_EVERY_SECONDS:
                say(f"execution {short} {state} ({elapsed:.0f} s)")
                seen, last_progress = state, time.monotonic()
        if elapsed > timeout:
            raise SmokeFailed(
                "execution",
                f"{short} has not finished after {timeout:.0f} s (SMOKE_TIMEOUT); it keeps "
                f"running: `make status`, or `make cancel EXECUTION={short}`",
            )
        time.sleep(poll)
