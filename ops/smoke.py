"""``make smoke MODEL=…``: prove a deployment works, from webhook to Numerai.

Four stages, each named when it fails (``smoke: FAILED at <stage>: <reason>``, exit 1):

1. webhook — POST Numerai's test webhook to the dispatcher:
   ``<service url>/pred/<model id>?token=<token>`` with ``{"roundNumber": "test",
   "dataVersion": 1, "triggerId": "smoke-<uuid>", "isTest": true}``. numerapi 3.1.1 has
   no call that makes Numerai send a webhook (only ``set_submission_webhook``), so this
   is the request Numerai's Test button makes. The URL comes from ``gcloud run services
   describe`` (or DISPATCHER_URL), the token from Secret Manager through gcloud's stdout:
   never printed, never on a command line.
2. execution — follow the execution named in the 202 answer through the Cloud Run Admin
   API v2 (google-cloud-run ``ExecutionsClient.get_execution``) until it finishes, within
   SMOKE_TIMEOUT. CLOUD_RUN_API_ENDPOINT (a local fake) → anonymous credentials; else the
   gcloud account's own access token (``gcloud auth print-access-token``, refreshed before
   it expires), the identity every other verb uses, so no Application Default
   Credentials set-up is needed.
3. logs — ``gcloud logging read`` with the job-log filter (docs/reference.md) for that
   execution, printed one line per entry (read again while Cloud Logging is still
   ingesting: until the model's summary line is there, a bounded number of times).
   Printed for a failed execution too, before that failure is reported.
4. confirm — through numerapi, the model has a submission carrying the smoke trigger id.
   If Numerai's API does not answer ``triggerId`` on submissions, the check falls back to
   a submission inserted after the webhook was sent, and the output says which was used.

It needs google-cloud-run and numerapi, so ``make smoke`` runs it in .venv. The test
webhook submits to the current round for real, like Numerai's own Test button.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from common import contract
from common.contract import (
    API_URL_ENV,
    PUBLIC_ID_ENV,
    PUBLIC_ID_SECRET,
    SECRET_KEY_ENV,
    SECRET_KEY_SECRET,
    WEBHOOK_TOKEN_SECRET,
)
from common.registry import ModelEntry, Registry
from ops import models, observe
from ops.gcloud import Gcloud, OpsError
from ops.settings import ConfigError, OpsSettings
from ops.webhook import (
    DRY_RUN_TOKEN,
    DRY_RUN_URL,
    describe_service_url,
    secret_value,
    webhook_url,
)

STAGES = ("webhook", "execution", "logs", "confirm")
# A deployed job runs up to 30 min per attempt with one retry (cloudbuild.yaml); add
# start-up and queueing. Past this the execution keeps running: smoke only stops waiting.
DEFAULT_TIMEOUT_SECONDS = 75 * 60
# The Admin API is polled this often; progress is printed at least every minute.
DEFAULT_POLL_SECONDS = 10.0
PROGRESS_EVERY_SECONDS = 60.0
# The dispatcher answers within its 7 s launch budget plus a cold start of a few seconds.
WEBHOOK_TIMEOUT_SECONDS = 30.0
# Each Admin API call: it answers in well under a second.
API_CALL_TIMEOUT_SECONDS = 30.0
# Consecutive transient Admin API errors tolerated while polling (about a minute).
MAX_POLL_ERRORS = 6
# Cloud Logging shows entries seconds (rarely a minute) after they are written.
LOG_READ_ATTEMPTS = 6
# Numerai may take a moment to list a submission it has just accepted.
CONFIRM_ATTEMPTS = 3
# Clocks of this machine, Cloud Run and Numerai differ: time bounds get this slack.
CLOCK_SKEW = dt.timedelta(minutes=5)
# gcloud access tokens live an hour; fetch a fresh one well before.
ACCESS_TOKEN_LIFETIME = dt.timedelta(minutes=45)
# The job's last line per model (docs/reference.md "Job logs").
SUMMARY_EVENTS = contract.SUMMARY_EVENTS
SMOKE_TRIGGER_PREFIX = "smoke-"
# Numerai's test webhook body (docs/reference.md, the webhook); the trigger is added per run.
TEST_WEBHOOK = {"roundNumber": "test", "dataVersion": 1, "isTest": True}
_LOOPBACK = ("127.0.0.1", "localhost", "::1")

SUBMISSIONS_WITH_TRIGGER = """
query($modelId: String) {
  submissions(modelId: $modelId) { id triggerId insertedAt round { number } }
}
"""


class SmokeFailed(Exception):
    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


@dataclass(frozen=True)
class Outcome:
    state: str  # "succeeded" | "failed" | "cancelled"
    message: str
    seconds: float


Say = Callable[[str], None]


@contextmanager
def stage(name: str, *secrets: str) -> Iterator[None]:
    """gcloud and Numerai failures inside become this stage's failure (secrets scrubbed)."""
    try:
        yield
    except OpsError as exc:
        raise SmokeFailed(name, _scrub(str(exc), *secrets)) from None


def _scrub(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<hidden>")
            text = text.replace(urllib.parse.quote(secret, safe=""), "<hidden>")
    return text


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    value = environ.get(name, "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ConfigError(f"{name}={value!r}: expected a number of seconds")
    return seconds


# --- 1. webhook ------------------------------------------------------------------------


def service_url(s: OpsSettings, g: Gcloud, environ: Mapping[str, str]) -> str | None:
    url = environ.get("DISPATCHER_URL", "").strip()
    if not url:
        url = describe_service_url(g, s) or ""
        if g.dry_run:
            return None
    parts = urllib.parse.urlsplit(url)
    # The token travels in the query string: plain http only to this machine.
    if not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)):
        raise SmokeFailed(
            "webhook",
            f"dispatcher URL {url!r} is not https (run `make release` first, or set "
            "DISPATCHER_URL)",
        )
    return url.rstrip("/")


def webhook_token(s: OpsSettings, g: Gcloud) -> str | None:
    token = secret_value(g, s, WEBHOOK_TOKEN_SECRET)
    if token is not None and not token:
        raise SmokeFailed("webhook", f"secret {WEBHOOK_TOKEN_SECRET} is empty: run `make setup`")
    return token


def send_webhook(url: str, body: Mapping[str, Any], token: str) -> dict[str, Any]:
    """POST the test webhook; the dispatcher's 202 (or 200 for a repeat) body."""
    request = urllib.request.Request(  # noqa: S310 - https, or http to loopback only
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as resp:  # noqa: S310
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        reason = _scrub(f"cannot reach the dispatcher: {reason}", token)
        raise SmokeFailed("webhook", reason) from None
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        answer = {"error": raw[:200].decode(errors="replace")}
    if status not in (200, 202):
        hint = {
            401: " (the dispatcher's token differs from secret numerai-webhook-token: "
            "`make release` after `make setup ROTATE_WEBHOOK_TOKEN=1`)",
            404: " (the deployed registry lacks this model: `make release`)",
        }.get(status, "")
        error = answer.get("error", answer) if isinstance(answer, dict) else answer
        raise SmokeFailed("webhook", _scrub(f"dispatcher answered {status}: {error}{hint}", token))
    if not isinstance(answer, dict) or not answer.get("execution_name"):
        raise SmokeFailed("webhook", f"dispatcher answered {status} without an execution: {answer}")
    return answer


# --- 2. execution ----------------------------------------------------------------------


def executions_client(g: Gcloud, environ: Mapping[str, str]) -> Any:
    try:
        from google.cloud import run_v2
    except ImportError:
        raise ConfigError(
            "smoke needs google-cloud-run and numerapi: run it as `make smoke` (it uses .venv)"
        ) from None
    endpoint = environ.get("CLOUD_RUN_API_ENDPOINT", "").strip()
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


def follow_execution(client: Any, name: str, *, timeout: float, poll: float, say: Say) -> Outcome:
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth
    from requests import RequestException

    transient = (
        api.ServiceUnavailable,
        api.InternalServerError,
        api.GatewayTimeout,
        api.TooManyRequests,
        RequestException,
        auth.TransportError,
    )
    started = time.monotonic()
    last_progress = started
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
                say(f"execution {name.rsplit('/', 1)[-1]} {state} ({elapsed:.0f} s)")
                seen, last_progress = state, time.monotonic()
        if elapsed > timeout:
            short = name.rsplit("/", 1)[-1]
            raise SmokeFailed(
                "execution",
                f"{short} has not finished after {timeout:.0f} s (SMOKE_TIMEOUT); it keeps "
                f"running: `make status`, or `make cancel EXECUTION={short}`",
            )
        time.sleep(poll)


# --- 3. logs ---------------------------------------------------------------------------


def _summary(entries: list[dict[str, Any]], model_id: str) -> dict[str, Any] | None:
    for entry in entries:
        payload = entry.get("jsonPayload")
        labels = entry.get("labels") or {}
        if (
            isinstance(payload, dict)
            and payload.get("event") in SUMMARY_EVENTS
            and labels.get("model_id") == model_id
        ):
            return payload
    return None


def read_logs(
    s: OpsSettings,
    g: Gcloud,
    execution: str,
    since: dt.datetime,
    model: ModelEntry,
    registry: Registry,
    *,
    poll: float,
    say: Say,
) -> dict[str, Any] | None:
    """Print the execution's log entries; the model's summary payload, if logged."""
    bound = (since - CLOCK_SKEW).strftime("%Y-%m-%dT%H:%M:%SZ")
    args = [
        "logging",
        "read",
        observe.log_filter(execution, [], bound),
        f"--project={s.project}",
        "--order=asc",
        f"--limit={observe.DEFAULT_LOG_LIMIT}",
    ]
    entries: list[dict[str, Any]] = []
    for attempt in range(LOG_READ_ATTEMPTS):
        if attempt:
            time.sleep(poll)
        found = g.read_json(args)
        if not isinstance(found, list):
            raise SmokeFailed("logs", "gcloud logging read: expected a JSON list")
        entries = found
        if _summary(entries, model.id) is not None:
            break
    if not entries:
        raise SmokeFailed(
            "logs",
            f"no log entries for {execution} after {LOG_READ_ATTEMPTS} reads: is the job "
            "writing to stdout, and may this account read logs (roles/logging.viewer)?",
        )
    say(f"logs of {execution} ({len(entries)} entries):")
    for entry in entries:
        say("  " + observe.render_entry(entry, registry))
    return _summary(entries, model.id)


# --- 4. confirm ------------------------------------------------------------------------


def _numerai_keys(s: OpsSettings, g: Gcloud, environ: Mapping[str, str]) -> tuple[str, str]:
    public_id = environ.get(PUBLIC_ID_ENV, "").strip()
    secret_key = environ.get(SECRET_KEY_ENV, "").strip()
    project = f"--project={s.project}"
    if not public_id:
        public_id = (
            g.read(
                ["secrets", "versions", "access", "latest", f"--secret={PUBLIC_ID_SECRET}", project]
            )
            or ""
        )
    if not secret_key:
        secret_key = (
            g.read(
                [
                    "secrets",
                    "versions",
                    "access",
                    "latest",
                    f"--secret={SECRET_KEY_SECRET}",
                    project,
                ]
            )
            or ""
        )
    if not (public_id and secret_key):
        raise SmokeFailed(
            "confirm",
            "no Numerai keys: set NUMERAI_PUBLIC_ID and NUMERAI_SECRET_KEY or store them with "
            "`make setup`",
        )
    return public_id, secret_key


def _by_trigger(api: Any, model: ModelEntry, trigger: str) -> tuple[str | None, str]:
    """(proof or None, what was seen); ValueError if Numerai refuses the query."""
    raw = api.raw_query(SUBMISSIONS_WITH_TRIGGER, {"modelId": model.id}, True)
    subs = raw["data"]["submissions"] or []
    mine = [x for x in subs if x.get("triggerId") == trigger]
    if not mine:
        return None, f"none of {len(subs)} submission(s) of {model.name} carries trigger {trigger}"
    sub = mine[-1]
    round_number = (sub.get("round") or {}).get("number", "?")
    return (
        f"submission {sub['id']} of {model.name} for round {round_number} carries trigger "
        f"{trigger} (checked by trigger id)"
    ), ""


def _by_time(api: Any, model: ModelEntry, sent_at: dt.datetime) -> tuple[str | None, str]:
    """numerapi's own submission list (no trigger ids): one inserted after the webhook."""
    listed = api.submission_ids(model.id) or []
    newer = [
        (when, x)
        for x in listed
        if (when := _utc(x.get("insertedAt"))) and when >= sent_at - CLOCK_SKEW
    ]
    if not newer:
        return (
            None,
            f"none of {len(listed)} submission(s) of {model.name} is newer than the webhook",
        )
    when, sub = max(newer, key=lambda pair: pair[0])
    return (
        f"submission {sub['id']} of {model.name} inserted at {when.isoformat()}, after the "
        "webhook (checked by time: Numerai's API does not answer trigger ids)"
    ), ""


def confirm_submission(
    api: Any,
    model: ModelEntry,
    trigger: str,
    sent_at: dt.datetime,
    *,
    poll: float,
    secrets: tuple[str, ...],
    say: Say,
) -> str:
    """A line saying which submission proves the run, and by which check."""
    by_trigger = True
    seen = ""
    for attempt in range(CONFIRM_ATTEMPTS):
        if attempt:
            time.sleep(poll)
        try:
            if by_trigger:
                try:
                    proof, seen = _by_trigger(api, model, trigger)
                except ValueError as exc:
                    if "Cannot query field" not in str(exc):
                        raise
                    # The API has no triggerId on submissions: a newer submission must do.
                    say("  (Numerai's API does not answer trigger ids: checking by time)")
                    by_trigger = False
            if not by_trigger:
                proof, seen = _by_time(api, model, sent_at)
        except Exception as exc:  # numerapi raises ValueError/KeyError/requests errors
            reason = _scrub(f"{type(exc).__name__}: {exc}", *secrets)
            raise SmokeFailed(
                "confirm", f"Numerai did not list the submissions: {reason}"
            ) from None
        if proof is not None:
            return proof
    raise SmokeFailed(
        "confirm",
        f"{seen}: the job ran but Numerai has no submission from it (dry run set on the job? "
        "see the logs above)",
    )


def _utc(value: Any) -> dt.datetime | None:
    """insertedAt as numerapi hands it over: an ISO string (or a datetime), as UTC."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return observe.parse_time(value)


def _numerapi() -> Any:
    try:
        import numerapi
    except ImportError:
        raise ConfigError(
            "smoke needs google-cloud-run and numerapi: run it as `make smoke` (it uses .venv)"
        ) from None
    return numerapi


def numerai_client(environ: Mapping[str, str], public_id: str, secret_key: str) -> Any:
    numerapi = _numerapi()
    from numerapi import base_api

    api_url = environ.get(API_URL_ENV, "").strip()
    if api_url:
        # numerapi has no constructor argument for its endpoint (docs/design.md).
        base_api.API_TOURNAMENT_URL = api_url
    return numerapi.NumerAPI(public_id=public_id, secret_key=secret_key)


# --- the verb --------------------------------------------------------------------------


def run_smoke(
    s: OpsSettings,
    g: Gcloud,
    environ: Mapping[str, str],
    out: IO[str],
    err: IO[str],
) -> int:
    registry = models.load(s.models_file)
    spec = environ.get("MODEL", "").strip()
    if spec.lower() == models.ALL or "," in spec:
        raise ConfigError(f"MODEL={spec!r}: smoke tests one model at a time: MODEL=<name|id>")
    entries = models.resolve(registry, spec)
    model = entries[0]
    timeout = _seconds(environ, "SMOKE_TIMEOUT", DEFAULT_TIMEOUT_SECONDS)
    poll = _seconds(environ, "SMOKE_POLL_SECONDS", DEFAULT_POLL_SECONDS)
    trigger = f"{SMOKE_TRIGGER_PREFIX}{uuid.uuid4()}"
    body = {**TEST_WEBHOOK, "triggerId": trigger}

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    token = ""
    try:
        with stage("webhook"):
            base = service_url(s, g, environ)
            token = webhook_token(s, g) or ""
        url = webhook_url(base or DRY_RUN_URL, model.id, token or DRY_RUN_TOKEN)
        shown = webhook_url(base or DRY_RUN_URL, model.id, DRY_RUN_TOKEN)
        if g.dry_run:
            say(
                f"[dry run] would POST {json.dumps(body)} to {shown}, follow the execution, "
                "read its logs and look for the submission on Numerai"
            )
            return 0
        # Libraries first: a missing one is a config error before anything is sent, not a
        # failure after a real submission.
        client = executions_client(g, environ)
        _numerapi()
        say(f"smoke {model.name} ({model.id}): POST {shown} trigger {trigger}")
        sent_at = dt.datetime.now(dt.UTC)
        answer = send_webhook(url, body, token)
        name = str(answer["execution_name"])
        short = name.rsplit("/", 1)[-1]
        say(f"webhook → execution {short}")

        outcome = follow_execution(client, name, timeout=timeout, poll=poll, say=say)
        say(f"execution {short} {outcome.state} after {outcome.seconds:.0f} s")
        try:
            with stage("logs"):
                summary = read_logs(s, g, short, sent_at, model, registry, poll=poll, say=say)
        except SmokeFailed:
            if outcome.state == "succeeded":
                raise
            summary = None  # the execution's failure is the one to report
        if outcome.state != "succeeded":
            raise SmokeFailed(
                "execution", f"{short} {outcome.state}: {outcome.message} (logs above)"
            )
        if summary is not None:
            say(
                f"job summary: event={summary.get('event')} "
                f"submission_id={summary.get('submission_id', '-')}"
            )

        with stage("confirm", token):
            public_id, secret_key = _numerai_keys(s, g, environ)
        secrets = (token, public_id, secret_key)
        api = numerai_client(environ, public_id, secret_key)
        proof = confirm_submission(
            api, model, trigger, sent_at, poll=poll, secrets=secrets, say=say
        )
        say(f"confirmed: {proof}")
    except SmokeFailed as exc:
        print(f"smoke: FAILED at {exc.stage}: {_scrub(exc.reason, token)}", file=err, flush=True)
        return 1
    say(f"smoke: OK ({model.name}: webhook → execution → logs → submission)")
    return 0
