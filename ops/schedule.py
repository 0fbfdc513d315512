"""``make schedule [CRON=…] [MODEL=all] [TIMEZONE=Etc/UTC] [CATCHUP=1]`` and
``make unschedule [CATCHUP=1]``.

Scheduled runs without any webhook: a Cloud Scheduler HTTP job POSTs to the Cloud Run
Admin API's ``jobs/J:run`` with common.contract's overrides, authenticated with an OAuth
token of a dedicated service account whose only permission is to run that job with
overrides. One scheduler job per Cloud Run job (the registry's ``job``), named
``<job>-schedule``; its body is the plan ``make rerun`` makes for the same MODEL with
the current round:

- ``NUMERAI_MODEL_ID``: ``all`` when the job holds every registered model, else the
  comma list of its models' ids; ``taskCount`` = that number of models, so each task
  takes its share (the job splits by ``CLOUD_RUN_TASK_INDEX``);
- ``NUMERAI_ROUND=current``, ``NUMERAI_IS_TEST=false``;
- no ``TRIGGER_ID``: a scheduled run has no Numerai trigger. The body is fixed when the
  scheduler job is made, so a marker would be the same string every day, handed to
  Numerai as a trigger id it never issued; ``make status`` tells scheduled runs apart.
- only with ``IF_SUBMITTED=skip|resubmit``: ``NUMERAI_IF_SUBMITTED``, the job's rule for
  a model already submitted this round (e.g. by its webhook); unset, the job's own
  setting (default resubmit) applies.

The catch-up check (``CATCHUP=1``): a second scheduler job per Cloud Run job, named
``<job>-catchup``, with the same body plus ``NUMERAI_IF_SUBMITTED=skip`` (always): the
job asks Numerai whether each model already has a submission for the open round and
skips it if so (a few seconds, no data downloaded); only a model without one is run and
submitted, late rather than never. It catches a round whose webhook never came (a
Numerai hiccup, a webhook URL left stale by a token rotation) or whose run failed.
Default time CATCHUP_CRON, 13:40 UTC Monday to Saturday: rounds open Tuesday to Saturday
at 13:00 UTC; a Tuesday–Friday round closes at 14:00 UTC the same day, Saturday's on
Monday at 14:00 UTC. 13:40 leaves the webhook's run 40 minutes to have finished and the
catch-up 20 minutes to submit; Monday's run is the last chance for Saturday's round.
``CRON=…`` moves it (keep it after your slowest model's usual finish and early enough
to finish before 14:00). ``make unschedule CATCHUP=1`` removes it.

Idempotent: the Admin API, the service account, each IAM binding and each scheduler
job are described first; a scheduler job that exists is updated (same flags), so a
second run changes nothing but re-applies the same settings.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from common.contract import (
    IF_SUBMITTED_CHOICES,
    IF_SUBMITTED_ENV,
    IF_SUBMITTED_RESUBMIT,
    IF_SUBMITTED_SKIP,
    ROUND_CURRENT,
)
from ops import iam, models, rerun
from ops.gcloud import Gcloud
from ops.services import ensure_apis
from ops.settings import ConfigError, OpsSettings, parse_flag

# Numerai's rounds open Tuesday to Saturday at 13:00 UTC; Tue–Fri rounds close an hour
# later (14:00 UTC), Saturday's on Monday 14:00 UTC. A quarter past the hour leaves the
# data time to be published and the run 45 minutes before the daily close.
DEFAULT_CRON = "15 13 * * 2-6"
# The catch-up check: 20 minutes before the weekday close, Monday too (the module
# docstring has the timing against Numerai's rounds).
CATCHUP_CRON = "40 13 * * 1-6"
DEFAULT_TIMEZONE = "Etc/UTC"
SCHEDULER_API = "cloudscheduler.googleapis.com"
RUN_API = "https://run.googleapis.com/v2"
# OAuth (not OIDC) tokens: the target is a Google API (*.googleapis.com).
OAUTH_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
SCHEDULE_SUFFIX = "-schedule"
CATCHUP_SUFFIX = "-catchup"
# Cloud Scheduler refuses a job description longer than this (a user with a hundred
# models would pass it by listing them all).
DESCRIPTION_MAX = 500
# A failed jobs:run (the API briefly unavailable) is retried twice, after one and then
# two minutes: well inside the hour the round is open. jobs:run answers within a second
# once it accepts, so a retry never races a first attempt still in flight.
MAX_RETRY_ATTEMPTS = 2
MIN_BACKOFF = "60s"
# Unix cron: five fields (minute hour day-of-month month day-of-week) of digits, names
# (MON, JAN) and * / , - (Cloud Scheduler's format).
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,-]+$")
_CRON_FIELDS = 5
# Cloud Scheduler locations.
_LOCATION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")


@dataclass(frozen=True)
class Schedule:
    name: str  # the Cloud Scheduler job id
    execute: rerun.Execute
    catchup: bool = False  # the catch-up check (CATCHUP=1), not the regular run

    @property
    def job(self) -> str:
        return self.execute.job

    @property
    def what(self) -> str:
        return "catch-up check" if self.catchup else "schedule"


def schedule_name(job: str, catchup: bool = False) -> str:
    return job + (CATCHUP_SUFFIX if catchup else SCHEDULE_SUFFIX)


def run_uri(s: OpsSettings, job: str) -> str:
    return f"{RUN_API}/projects/{s.project}/locations/{s.region}/jobs/{job}:run"


def message_body(ex: rerun.Execute) -> dict[str, Any]:
    """The RunJob request body: the env overrides of common.contract and one task per model."""
    return {
        "overrides": {
            "containerOverrides": [{"env": [{"name": k, "value": v} for k, v in ex.env]}],
            "taskCount": ex.tasks,
        }
    }


def parse_cron(value: str | None, default: str = DEFAULT_CRON) -> str:
    cron = " ".join((value or "").split()) or default
    fields = cron.split(" ")
    if len(fields) != _CRON_FIELDS or not all(_CRON_FIELD.match(f) for f in fields):
        raise ConfigError(
            f"CRON={value!r}: expected five unix-cron fields (minute hour day month weekday), "
            f'e.g. CRON="{default}"'
        )
    return cron


def parse_timezone(value: str | None) -> str:
    name = (value or "").strip() or DEFAULT_TIMEZONE
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # No tz database on this machine: accept a well-formed name, Cloud Scheduler checks.
        if zoneinfo.available_timezones() or not re.fullmatch(
            r"[A-Za-z_]+(/[A-Za-z0-9_+-]+)*", name
        ):
            raise ConfigError(
                f"TIMEZONE={value!r}: not a tz database name (e.g. Etc/UTC, Europe/London)"
            ) from None
    return name


def parse_if_submitted(value: str | None) -> str | None:
    choice = (value or "").strip().lower()
    if not choice:
        return None
    if choice not in IF_SUBMITTED_CHOICES:
        raise ConfigError(f"IF_SUBMITTED={value!r}: expected {' or '.join(IF_SUBMITTED_CHOICES)}")
    return choice


def scheduler_location(s: OpsSettings, environ: Mapping[str, str]) -> str:
    """SCHEDULER_REGION, else the Cloud Run region (Cloud Scheduler is regional too)."""
    value = environ.get("SCHEDULER_REGION", "").strip() or s.region
    if not _LOCATION.match(value):
        raise ConfigError(f"SCHEDULER_REGION={value!r} is not a region (e.g. europe-west1)")
    return value


def parse_catchup_if_submitted(environ: Mapping[str, str]) -> str | None:
    """IF_SUBMITTED: the job's own rule unless set; the catch-up check always skips."""
    choice = parse_if_submitted(environ.get("IF_SUBMITTED"))
    if not parse_flag(environ, "CATCHUP"):
        return choice
    if choice == IF_SUBMITTED_RESUBMIT:
        raise ConfigError(
            f"IF_SUBMITTED={IF_SUBMITTED_RESUBMIT} with CATCHUP=1: the catch-up check only "
            "submits models that have no submission for the round (it always skips)"
        )
    return IF_SUBMITTED_SKIP


def plan(s: OpsSettings, environ: Mapping[str, str]) -> list[Schedule]:
    catchup = parse_flag(environ, "CATCHUP")
    registry = models.load(s.models_file)
    spec = environ.get("MODEL", "").strip() or models.ALL
    entries = models.resolve(registry, spec)
    executions = rerun.plan(
        entries,
        every_model=spec.lower() == models.ALL,
        default_job=s.job_name,
        round_=ROUND_CURRENT,
        trigger=None,
    )
    if_submitted = parse_catchup_if_submitted(environ)
    if if_submitted is not None:
        extra = ((IF_SUBMITTED_ENV, if_submitted),)
        executions = [dataclasses.replace(ex, env=ex.env + extra) for ex in executions]
    return [Schedule(schedule_name(ex.job, catchup), ex, catchup) for ex in executions]


def _ensure_account(g: Gcloud, s: OpsSettings) -> bool:
    project = f"--project={s.project}"
    if g.exists(["iam", "service-accounts", "describe", s.scheduler_sa_email, project]):
        return False
    g.run(
        [
            "iam",
            "service-accounts",
            "create",
            s.scheduler_sa,
            "--display-name=numerai scheduler (runs the job on a schedule)",
            project,
        ]
    )
    return True


def _http_flags(s: OpsSettings, sched: Schedule, cron: str, tz: str, body: Path) -> list[str]:
    doing = "catch-up check (submits only what is missing) on" if sched.catchup else "run"
    description = f"numerai-cloudrun: {doing} {sched.job} for " + ", ".join(
        e.name for e in sched.execute.models
    )
    if len(description) > DESCRIPTION_MAX:
        more = f" … ({len(sched.execute.models)} models)"
        description = description[: DESCRIPTION_MAX - len(more)] + more
    return [
        f"--schedule={cron}",
        f"--time-zone={tz}",
        f"--uri={run_uri(s, sched.job)}",
        "--http-method=POST",
        f"--message-body-from-file={body}",
        f"--oauth-service-account-email={s.scheduler_sa_email}",
        f"--oauth-token-scope={OAUTH_SCOPE}",
        f"--max-retry-attempts={MAX_RETRY_ATTEMPTS}",
        f"--min-backoff={MIN_BACKOFF}",
        f"--description={description}",
    ]


def run_schedule(s: OpsSettings, g: Gcloud, environ: Mapping[str, str], out: IO[str]) -> int:
    schedules = plan(s, environ)
    catchup = parse_flag(environ, "CATCHUP")
    cron = parse_cron(environ.get("CRON"), CATCHUP_CRON if catchup else DEFAULT_CRON)
    tz = parse_timezone(environ.get("TIMEZONE"))
    location = scheduler_location(s, environ)
    where = [f"--location={location}", f"--project={s.project}"]

    # Nothing is created for a job that is not deployed.
    rerun.check_jobs_exist(s, g, [sched.job for sched in schedules])
    ensure_apis(g, s, [SCHEDULER_API])
    created_sa = _ensure_account(g, s)
    number = g.read(["projects", "describe", s.project, "--format=value(projectNumber)"])
    granted = [
        binding.what
        for binding in iam.scheduler_bindings(s, [x.job for x in schedules], number or "<number>")
        if iam.ensure(g, binding)
    ]
    with tempfile.TemporaryDirectory(prefix="numerai-schedule-") as scratch:
        for sched in schedules:
            body = Path(scratch) / f"{sched.name}.json"
            text = json.dumps(message_body(sched.execute), indent=2)
            body.write_text(text + "\n", encoding="utf-8")
            print(f"message body ({body}):\n{text}", file=g.out, flush=True)
            exists = g.exists(["scheduler", "jobs", "describe", sched.name, *where])
            flags = _http_flags(s, sched, cron, tz, body)
            if exists:
                # update takes --update-headers where create takes --headers.
                verb, headers = "update", "--update-headers=Content-Type=application/json"
            else:
                verb, headers = "create", "--headers=Content-Type=application/json"
            g.run(["scheduler", "jobs", verb, "http", sched.name, *where, *flags, headers])
            names = ", ".join(e.name for e in sched.execute.models)
            only = ", only those without a submission for the open round" if catchup else ""
            print(
                f"{sched.what} {sched.name} ({'updated' if exists else 'created'}): runs job "
                f"{sched.job} for {names}{only} at '{cron}' {tz}",
                file=out,
            )
    if g.dry_run:
        print("dry run: nothing was changed (DRY_RUN=1)", file=out)
        return 0
    if created_sa:
        print(f"created service account {s.scheduler_sa_email}", file=out)
    for what in granted:
        print(f"granted {what}", file=out)
    print(
        "run it now with `gcloud scheduler jobs run "
        f"{schedules[0].name} --location={location}`, then `make status`",
        file=out,
    )
    return 0


def run_unschedule(s: OpsSettings, g: Gcloud, environ: Mapping[str, str], out: IO[str]) -> int:
    schedules = plan(s, environ)
    location = scheduler_location(s, environ)
    where = [f"--location={location}", f"--project={s.project}"]
    for sched in schedules:
        if g.exists(["scheduler", "jobs", "describe", sched.name, *where]):
            # `make unschedule` is the confirmation; gcloud must not prompt.
            g.run(["scheduler", "jobs", "delete", sched.name, *where, "--quiet"])
            print(f"deleted {sched.what} {sched.name} (job {sched.job})", file=out)
        else:
            print(f"no {sched.what} {sched.name} in {location}: nothing to delete", file=out)
    if g.dry_run:
        print("dry run: nothing was changed (DRY_RUN=1)", file=out)
        return 0
    print(
        f"left in place: service account {s.scheduler_sa_email} and its "
        f"{iam.JOB_EXECUTOR_WITH_OVERRIDES} grant on the job(s) (harmless without a "
        "schedule; `make schedule` reuses them). Remove the account with `gcloud iam "
        f"service-accounts delete {s.scheduler_sa_email} --project={s.project} --quiet`",
        file=out,
    )
    return 0
