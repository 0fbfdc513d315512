"""``make rerun MODEL=… [ROUND=…] [TRIGGER=…]``: ``gcloud run jobs execute`` with overrides.

The overrides are the dispatcher's (common.contract): NUMERAI_MODEL_ID, NUMERAI_ROUND,
TRIGGER_ID, NUMERAI_IS_TEST. Several models on one job run as one execution with one
task per model (the job splits the list by CLOUD_RUN_TASK_INDEX); models on different
jobs (the registry's ``job``) get one execution per job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO

from common.contract import (
    FALSE,
    IS_TEST_ENV,
    MODEL_ID_ENV,
    ROUND_CURRENT,
    ROUND_ENV,
    ROUND_TEST,
    TRIGGER_ID_ENV,
    TRUE,
)
from common.registry import ModelEntry
from ops import models
from ops.gcloud import Gcloud, OpsError
from ops.settings import ConfigError, OpsSettings, parse_flag

# Trigger ids are Numerai's opaque strings; keep them to characters that survive a
# command line and a gcloud KEY=VALUE list unquoted.
_TRIGGER = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# gcloud list escaping (`gcloud topic escaping`): "^@^" makes "@" the item separator,
# so a value may hold commas (a list of model ids).
_ALT_DELIMITER = "@"


@dataclass(frozen=True)
class Execute:
    job: str
    env: tuple[tuple[str, str], ...]
    tasks: int
    models: tuple[ModelEntry, ...]


def parse_round(value: str | None) -> str:
    value = (value or "").strip().lower() or ROUND_CURRENT
    if value in (ROUND_CURRENT, ROUND_TEST) or (value.isdigit() and int(value) > 0):
        return value
    raise ConfigError(f"ROUND={value!r}: expected a round number, 'current' or 'test'")


def parse_trigger(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if not _TRIGGER.match(value):
        raise ConfigError(f"TRIGGER={value!r}: use letters, digits and . _ : - only (at most 128)")
    return value


def plan(
    entries: list[ModelEntry],
    *,
    every_model: bool,
    default_job: str,
    round_: str,
    trigger: str | None,
) -> list[Execute]:
    by_job: dict[str, list[ModelEntry]] = {}
    for entry in entries:
        by_job.setdefault(entry.job_or(default_job), []).append(entry)
    executions = []
    for job, group in by_job.items():
        # "all" means every registered model to the job, so it is only right when this
        # job holds them all; otherwise name them.
        model_id = models.ALL if every_model and len(by_job) == 1 else ",".join(e.id for e in group)
        env = [(MODEL_ID_ENV, model_id), (ROUND_ENV, round_)]
        if trigger:
            env.append((TRIGGER_ID_ENV, trigger))
        # Numerai's own test webhook sends roundNumber "test" with isTest true.
        env.append((IS_TEST_ENV, TRUE if round_ == ROUND_TEST else FALSE))
        executions.append(Execute(job, tuple(env), len(group), tuple(group)))
    return executions


def env_flag(env: tuple[tuple[str, str], ...]) -> str:
    items = [f"{k}={v}" for k, v in env]
    if any("," in item for item in items):
        return f"--update-env-vars=^{_ALT_DELIMITER}^" + _ALT_DELIMITER.join(items)
    return "--update-env-vars=" + ",".join(items)


def check_jobs_exist(s: OpsSettings, g: Gcloud, jobs: list[str]) -> None:
    """Raise OpsError naming the first Cloud Run job that is not deployed (and how to fix it)."""
    for job in jobs:
        found = g.exists(
            [
                "run",
                "jobs",
                "describe",
                job,
                f"--region={s.region}",
                f"--project={s.project}",
                "--format=value(metadata.name)",
            ]
        )
        if not found and not g.dry_run:
            raise OpsError(
                f"Cloud Run job {job} does not exist in {s.region} of {s.project}: "
                + (
                    "run `make release` first"
                    if job == s.job_name
                    else f"deploy it with `make release JOB_NAME={job} DEPLOY_DISPATCHER=false`"
                )
            )


def run_rerun(s: OpsSettings, g: Gcloud, environ: Mapping[str, str], out: IO[str]) -> int:
    registry = models.load(s.models_file)
    spec = environ.get("MODEL", "")
    entries = models.resolve(registry, spec)
    executions = plan(
        entries,
        every_model=spec.strip().lower() == models.ALL,
        default_job=s.job_name,
        round_=parse_round(environ.get("ROUND")),
        trigger=parse_trigger(environ.get("TRIGGER")),
    )
    wait = parse_flag(environ, "WAIT")
    # gcloud itself crashes on a missing job when overrides are given (it reads the job
    # first and gets nothing), so say what is wrong before it does.
    check_jobs_exist(s, g, [ex.job for ex in executions])
    for ex in executions:
        args = [
            "run",
            "jobs",
            "execute",
            ex.job,
            f"--region={s.region}",
            f"--project={s.project}",
            env_flag(ex.env),
            f"--tasks={ex.tasks}",
        ]
        if wait:
            args.append("--wait")
        names = ", ".join(e.name for e in ex.models)
        print(f"rerun on job {ex.job}: {names}", file=out)
        g.run(args)
    if not g.dry_run:
        print("follow it with `make status` and `make logs EXECUTION=<name>`", file=out)
    return 0
