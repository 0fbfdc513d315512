"""``python -m ops <verb>``: the deployment verbs the Makefile calls.

Every verb takes its inputs from the environment (``make rerun MODEL=x`` exports
MODEL to the recipe) or from the equivalent flag, which wins. Exit codes: 0 done,
1 a command failed (gcloud or Numerai said no), 2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO

from common.contract import EXIT_CONFIG, EXIT_FAILED
from ops import observe, release, rerun, rotate, schedule, setup, webhook
from ops.alerts.verb import run_alerts, run_alerts_off
from ops.gcloud import DEFAULT_BACKOFF, Gcloud, OpsError
from ops.report.verb import run_report
from ops.settings import ConfigError, OpsSettings, load_settings, parse_flag
from ops.smoke.verb import run_smoke

Verb = Callable[[OpsSettings, Gcloud, Mapping[str, str], IO[str]], int]

# flag → environment variable, for every verb (the settings every verb needs).
_COMMON_FLAGS = {
    "--project": "PROJECT",
    "--region": "REGION",
    "--job-name": "JOB_NAME",
    "--service-name": "SERVICE_NAME",
}
# verb → (help, its own flags → environment variables)
_VERBS: dict[str, tuple[str, dict[str, str]]] = {
    "setup": ("enable APIs, create the repository, service accounts, secrets, IAM", {}),
    "release": ("build, push and deploy with cloudbuild.yaml (gcloud builds submit)", {}),
    "webhook-url": (
        "print the webhook URL (with token) for MODEL; REGISTER=1 sets it on Numerai",
        {"--model": "MODEL"},
    ),
    "rerun": (
        "run MODEL (name, id, comma list or all) now: gcloud run jobs execute",
        {"--model": "MODEL", "--round": "ROUND", "--trigger": "TRIGGER"},
    ),
    "status": (
        "recent executions: model, round, state, duration",
        {"--job": "JOB", "--limit": "LIMIT"},
    ),
    "logs": (
        "structured logs of EXECUTION or MODEL from Cloud Logging",
        {"--execution": "EXECUTION", "--model": "MODEL", "--since": "SINCE", "--limit": "LIMIT"},
    ),
    "cancel": ("cancel EXECUTION", {"--execution": "EXECUTION"}),
    "rotate-token": (
        "a new webhook token without downtime (FINISH=1: drop the old one)",
        {"--finish": "FINISH"},
    ),
    "schedule": (
        "create or update the Cloud Scheduler job(s) that run MODEL (default all) on CRON",
        {
            "--model": "MODEL",
            "--cron": "CRON",
            "--timezone": "TIMEZONE",
            "--scheduler-region": "SCHEDULER_REGION",
            "--scheduler-sa": "SCHEDULER_SA",
            "--if-submitted": "IF_SUBMITTED",
            "--catchup": "CATCHUP",
        },
    ),
    "unschedule": (
        "delete the Cloud Scheduler job(s) of MODEL's Cloud Run job(s) (default all)",
        {"--model": "MODEL", "--scheduler-region": "SCHEDULER_REGION", "--catchup": "CATCHUP"},
    ),
    "report": (
        "did every model submit this round? one row per model: submitted, failed (why), "
        "skipped, running or missing",
        {"--model": "MODEL", "--round": "ROUND", "--format": "FORMAT"},
    ),
    "alerts": (
        "e-mail EMAIL when a model fails or an execution fails or times out (Cloud "
        "Monitoring alert policies; idempotent)",
        {"--email": "EMAIL"},
    ),
    "alerts-off": ("remove the alert policies and e-mail channels `alerts` created", {}),
    "smoke": (
        "send a test webhook for MODEL, follow the execution, print its logs, find the "
        "submission on Numerai",
        {"--model": "MODEL", "--dispatcher-url": "DISPATCHER_URL", "--timeout": "SMOKE_TIMEOUT"},
    ),
}
_RUNNERS: dict[str, Verb] = {
    "release": release.run_release,
    "rerun": rerun.run_rerun,
    "status": observe.run_status,
    "logs": observe.run_logs,
    "cancel": observe.run_cancel,
    "webhook-url": webhook.run_webhook_url,
    "rotate-token": rotate.run_rotate_token,
    "schedule": schedule.run_schedule,
    "unschedule": schedule.run_unschedule,
    "report": run_report,
    "alerts": run_alerts,
    "alerts-off": run_alerts_off,
}


def _backoff(env: Mapping[str, str]) -> tuple[float, ...]:
    """OPS_BACKOFF_SECONDS=0 (tests) keeps the retries but drops the waits."""
    value = env.get("OPS_BACKOFF_SECONDS", "").strip()
    if not value:
        return DEFAULT_BACKOFF
    try:
        scale = float(value)
    except ValueError:
        raise ConfigError(f"OPS_BACKOFF_SECONDS={value!r}: expected seconds") from None
    return tuple(scale for _ in DEFAULT_BACKOFF)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops",
        description="Deploy and operate numerai-cloudrun on Google Cloud. Each verb prints "
        "the gcloud commands it runs; DRY_RUN=1 (or --dry-run) only prints them.",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, (text, own) in _VERBS.items():
        sub = verbs.add_parser(verb, help=text, description=text)
        for flag, variable in {**_COMMON_FLAGS, **own}.items():
            sub.add_argument(flag, dest=variable, metavar=variable, help=f"(env {variable})")
        sub.add_argument(
            "--dry-run", action="store_true", help="print, run nothing (env DRY_RUN=1)"
        )
        if verb == "webhook-url":
            sub.add_argument(
                "--register", action="store_true", help="set it on Numerai (env REGISTER=1)"
            )
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdin: IO[str] | None = None,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    args = build_parser().parse_args(argv)
    env = dict(os.environ if environ is None else environ)
    for key, value in vars(args).items():
        if key.isupper() and value is not None:
            env[key] = value
    if args.dry_run:
        env["DRY_RUN"] = "1"
    if getattr(args, "register", False):
        env["REGISTER"] = "1"
    try:
        dry_run = parse_flag(env, "DRY_RUN")
        g = Gcloud(dry_run=dry_run, out=err, backoff=_backoff(env))

        def config_value(key: str) -> str | None:
            return g.read(["config", "get-value", key])

        settings = load_settings(env, {}, config_value)
        if args.verb == "setup":
            return setup.run_setup(settings, g, env, setup.hidden_prompt(stdin), out)
        if args.verb == "smoke":
            return run_smoke(settings, g, env, out, err)
        return _RUNNERS[args.verb](settings, g, env, out)
    except ConfigError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_CONFIG
    except OpsError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_FAILED
