"""``make release``: ``gcloud builds submit`` with cloudbuild.yaml and its substitutions.

Before uploading anything it checks what would otherwise fail only inside the cloud:
the registry parses and every model file it names exists (a job image without the
trained model fails at the first round, after the webhook was accepted). It pins the
dispatcher to explicit versions of the webhook-token secret — the ones the running
dispatcher already uses (a rotation under way keeps both), or the newest on a first
release — so a new secret version never takes effect at some random cold start. After
the build it makes the grants the build account may not (ops/iam.py
``deployed_bindings``) and prints the webhook URL template: Cloud Build's own step
output is not shown with CLOUD_LOGGING_ONLY.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import IO

from common.contract import WEBHOOK_TOKEN_ENV, WEBHOOK_TOKEN_PREVIOUS_ENV, WEBHOOK_TOKEN_SECRET
from common.registry import RegistryError, load_registry
from ops import iam
from ops.deployed import LATEST, describe_service_url, latest_version, pinned_token_versions
from ops.gcloud import Gcloud
from ops.settings import ConfigError, OpsSettings

CLOUDBUILD_CONFIG = "cloudbuild.yaml"
# The webhook-token versions the dispatcher is deployed with (never "latest").
CURRENT_SUBSTITUTION = "_WEBHOOK_TOKEN_VERSION"
PREVIOUS_SUBSTITUTION = "_WEBHOOK_TOKEN_PREVIOUS_VERSION"
# Tuning knobs: environment variable → cloudbuild.yaml substitution. Passed only when
# set, so cloudbuild.yaml's defaults stay the single source of defaults.
OPTIONAL_SUBSTITUTIONS = {
    "JOB_CPU": "_JOB_CPU",
    "JOB_MEMORY": "_JOB_MEMORY",
    "TASK_TIMEOUT": "_TASK_TIMEOUT",
    "MAX_RETRIES": "_MAX_RETRIES",
    "TASKS": "_TASKS",
    "BASE_IMAGE": "_BASE_IMAGE",
    "DISPATCHER_MEMORY": "_DISPATCHER_MEMORY",
    "DISPATCHER_CONCURRENCY": "_DISPATCHER_CONCURRENCY",
    "DEPLOY_DISPATCHER": "_DEPLOY_DISPATCHER",
}
# Registry option keys ending in this name files that must ship in the job image.
_PATH_OPTION_SUFFIX = "_path"


def substitutions(s: OpsSettings, environ: Mapping[str, str]) -> dict[str, str]:
    subs = {
        "_REGION": s.region,
        "_REPOSITORY": s.repository,
        "_JOB_NAME": s.job_name,
        "_SERVICE_NAME": s.service_name,
        "_JOB_SA": s.job_sa,
        "_DISPATCHER_SA": s.dispatcher_sa,
    }
    for variable, key in OPTIONAL_SUBSTITUTIONS.items():
        value = environ.get(variable, "").strip()
        if not value:
            continue
        # gcloud splits --substitutions on commas; none of these values has one.
        if "," in value or any(c.isspace() for c in value):
            raise ConfigError(f"{variable}={value!r}: must not contain commas or spaces")
        subs[key] = value
    return subs


def check_model_files(models_file: Path, root: Path) -> None:
    try:
        registry = load_registry(models_file)
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None
    for entry in registry.models:
        for key, value in entry.options.items():
            if not key.endswith(_PATH_OPTION_SUFFIX) or not isinstance(value, str):
                continue
            path = Path(value)
            if path.is_absolute():
                # Outside the source tree: mounted at run time (a Cloud Storage volume,
                # see docs/model-uploads.md), not shipped in the image.
                continue
            if not (root / path).is_file():
                raise ConfigError(
                    f"{models_file}: [models.{entry.name}] {key} = {value!r} does not exist; "
                    "train or copy the model file first (e.g. `python -m predictors.pred1.train`)"
                    " — the job image ships only what is in the source tree"
                )


def run_release(s: OpsSettings, g: Gcloud, environ: Mapping[str, str], out: IO[str]) -> int:
    root = Path.cwd()
    if not (root / CLOUDBUILD_CONFIG).is_file():
        raise ConfigError(f"{CLOUDBUILD_CONFIG} not found in {root}: run from the repository root")
    check_model_files(s.models_file, root)
    subs = substitutions(s, environ)
    deploy_dispatcher = subs.get("_DEPLOY_DISPATCHER", "true") == "true"
    if deploy_dispatcher:
        subs.update(token_versions(s, g))
    g.run(
        [
            "builds",
            "submit",
            f"--config={CLOUDBUILD_CONFIG}",
            "--substitutions=" + ",".join(f"{k}={v}" for k, v in subs.items()),
            f"--service-account=projects/{s.project}/serviceAccounts/{s.build_sa_email}",
            f"--gcs-source-staging-dir={s.staging_bucket}/source",
            f"--project={s.project}",
            ".",
        ]
    )
    granted = [
        b.what
        for b in iam.deployed_bindings(s, job=s.job_name, with_service=deploy_dispatcher)
        if iam.ensure(g, b)
    ]
    if g.dry_run:
        return 0
    for what in granted:
        print(f"granted {what}", file=out)
    if not deploy_dispatcher:
        print(f"released job {s.job_name}; the dispatcher was left as it is", file=out)
        return 0
    url = describe_service_url(g, s) or "<dispatcher not deployed>"
    print(
        f"released. Numerai Compute webhook, per model:\n  {url}/pred/<MODEL_ID>?token=<"
        f"{WEBHOOK_TOKEN_SECRET}>\nthe full URL for a model: `make webhook-url MODEL=<name>` "
        "(REGISTER=1 sets it on Numerai)",
        file=out,
    )
    return 0


def token_versions(s: OpsSettings, g: Gcloud) -> dict[str, str]:
    """cloudbuild.yaml's ``_WEBHOOK_TOKEN_VERSION`` (and ``…_PREVIOUS_VERSION`` while a
    rotation is under way): what the dispatcher runs with now, else the newest version."""
    pinned = pinned_token_versions(g, s)
    if pinned is None:  # a dry run reads nothing
        return {CURRENT_SUBSTITUTION: "<version>"}
    current = pinned.get(WEBHOOK_TOKEN_ENV, LATEST)
    if not current.isdigit():  # a first release, or a deployment from before pinning
        current = latest_version(g, s, WEBHOOK_TOKEN_SECRET) or ""
    versions = {CURRENT_SUBSTITUTION: current}
    previous = pinned.get(WEBHOOK_TOKEN_PREVIOUS_ENV)
    if previous and previous.isdigit():
        versions[PREVIOUS_SUBSTITUTION] = previous
    return versions
