"""The smoke verb: read its inputs, run the four stages in order, print the verdict."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from common.redact import scrub
from common.registry import ModelEntry, Registry
from ops import models, numerai
from ops.gcloud import HIDDEN, Gcloud
from ops.settings import ConfigError, OpsSettings
from ops.smoke.confirm import confirm_submission
from ops.smoke.execution import DEFAULT_POLL_SECONDS, executions_client, follow_execution
from ops.smoke.logs import read_logs
from ops.smoke.stage import NEEDS_LIBRARIES, Say, SmokeFailed, stage
from ops.smoke.webhook import SMOKE_TRIGGER_PREFIX, TEST_WEBHOOK, send_webhook, service_url
from ops.webhook import DRY_RUN_TOKEN, DRY_RUN_URL, webhook_token, webhook_url

# A deployed job runs up to 30 min per attempt with one retry (cloudbuild.yaml); add
# start-up and queueing. Past this the execution keeps running: smoke only stops waiting.
DEFAULT_TIMEOUT_SECONDS = 75 * 60


@dataclass(frozen=True)
class Plan:
    """One smoke run: the model under test, the waits, the trigger its webhook carries."""

    registry: Registry
    model: ModelEntry
    timeout: float
    poll: float
    trigger: str

    @property
    def body(self) -> dict[str, Any]:
        return {**TEST_WEBHOOK, "triggerId": self.trigger}


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


def plan_smoke(s: OpsSettings, environ: Mapping[str, str]) -> Plan:
    """The run MODEL, SMOKE_TIMEOUT and SMOKE_POLL_SECONDS ask for; ConfigError naming
    the variable at fault."""
    registry = models.load(s.models_file)
    spec = environ.get("MODEL", "").strip()
    if spec.lower() == models.ALL or "," in spec:
        raise ConfigError(f"MODEL={spec!r}: smoke tests one model at a time: MODEL=<name|id>")
    model = models.resolve(registry, spec)[0]
    return Plan(
        registry=registry,
        model=model,
        timeout=_seconds(environ, "SMOKE_TIMEOUT", DEFAULT_TIMEOUT_SECONDS),
        poll=_seconds(environ, "SMOKE_POLL_SECONDS", DEFAULT_POLL_SECONDS),
        trigger=f"{SMOKE_TRIGGER_PREFIX}{uuid.uuid4()}",
    )


def run_smoke(
    s: OpsSettings,
    g: Gcloud,
    environ: Mapping[str, str],
    out: IO[str],
    err: IO[str],
) -> int:
    plan = plan_smoke(s, environ)

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    token = ""
    try:
        with stage("webhook"):
            base = service_url(s, g, environ)
            token = webhook_token(g, s) or ""
        url = webhook_url(base or DRY_RUN_URL, plan.model.id, token or DRY_RUN_TOKEN)
        shown = webhook_url(base or DRY_RUN_URL, plan.model.id, DRY_RUN_TOKEN)
        if g.dry_run:
            say(
                f"[dry run] would POST {json.dumps(plan.body)} to {shown}, follow the "
                "execution, read its logs and look for the submission on Numerai"
            )
            return 0
        # Libraries first: a missing one is a config error before anything is sent, not a
        # failure after a real submission.
        client = executions_client(g, environ)
        numerai.client_class(NEEDS_LIBRARIES)
        say(f"smoke {plan.model.name} ({plan.model.id}): POST {shown} trigger {plan.trigger}")
        sent_at = dt.datetime.now(dt.UTC)
        answer = send_webhook(url, plan.body, token)
        name = str(answer["execution_name"])
        say(f"webhook → execution {name.rsplit('/', 1)[-1]}")
        _execution_and_logs(s, g, client, plan, name, sent_at, say)
        _confirm(s, g, environ, plan, token, sent_at, say)
    except SmokeFailed as exc:
        reason = scrub(exc.reason, [token], mask=HIDDEN)
        print(f"smoke: FAILED at {exc.stage}: {reason}", file=err, flush=True)
        return 1
    say(f"smoke: OK ({plan.model.name}: webhook → execution → logs → submission)")
    return 0


def _execution_and_logs(
    s: OpsSettings, g: Gcloud, client: Any, plan: Plan, name: str, sent_at: dt.datetime, say: Say
) -> None:
    """Stages 2 and 3: the logs are printed for a failed execution too, before its failure."""
    short = name.rsplit("/", 1)[-1]
    outcome = follow_execution(client, name, timeout=plan.timeout, poll=plan.poll, say=say)
    say(f"execution {short} {outcome.state} after {outcome.seconds:.0f} s")
    try:
        with stage("logs"):
            summary = read_logs(
                s, g, short, sent_at, plan.model, plan.registry, poll=plan.poll, say=say
            )
    except SmokeFailed:
        if outcome.state == "succeeded":
            raise
        summary = None  # the execution's failure is the one to report
    if outcome.state != "succeeded":
        raise SmokeFailed("execution", f"{short} {outcome.state}: {outcome.message} (logs above)")
    if summary is not None:
        say(
            f"job summary: event={summary.get('event')} "
            f"submission_id={summary.get('submission_id', '-')}"
        )


def _confirm(
    s: OpsSettings,
    g: Gcloud,
    environ: Mapping[str, str],
    plan: Plan,
    token: str,
    sent_at: dt.datetime,
    say: Say,
) -> None:
    """Stage 4, with the account's keys (environment, else the project's secrets)."""
    with stage("confirm", token):
        keys = numerai.numerai_keys(s, g, environ)
    assert keys is not None  # a dry run returned before anything was sent
    api = numerai.numerai_client(environ, keys, needs=NEEDS_LIBRARIES)
    proof = confirm_submission(
        api,
        plan.model,
        plan.trigger,
        sent_at,
        poll=plan.poll,
        secrets=(token, *keys.values),
        say=say,
    )
    say(f"confirmed: {proof}")
