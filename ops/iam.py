"""The least-privilege plan: which identity gets which role, on which resource.

Three service accounts, no Owner/Editor and no project-level Secret Manager role:

- the job (NUMERAI keys): Secret Accessor on ``numerai-public-id`` and
  ``numerai-secret`` only (secret-level bindings).
- the dispatcher: Secret Accessor on ``numerai-webhook-token`` only, and on each Cloud
  Run job it launches ``roles/run.jobsExecutorWithOverrides`` (exactly run.jobs.run,
  run.jobs.runWithOverrides and run.executions.cancel: a custom role would be no
  narrower and would leave a soft-deleted role id behind on tear-down) and
  ``roles/run.viewer`` (run.executions.list/get: a new instance reads what was launched
  lately, dispatcher/history.py). No ``iam.serviceAccountUser``: running an existing job
  does not act as its service account (only deploying it does).
- the build (``gcloud builds submit --service-account``): Cloud Run Developer on the
  project (deploy the job and the service; it holds no run.*.setIamPolicy, so the build
  can make nothing public and grant nothing), Service Account User on the job and
  dispatcher accounts only (to deploy them as their identity), Artifact Registry Writer
  on the one repository, Storage Object Viewer on the source staging bucket, and Logs
  Writer (build logs). A project set up before this had Cloud Run Admin for the build:
  setup takes it away (``revoked``).

The grants on the job and the service — the dispatcher's two roles on each job, and
``allUsers`` as invoker of the dispatcher (Numerai sends no Google identity; the webhook
token is the lock) — cannot be made by ``make setup``, because neither exists before the
first release: ``make release`` makes them as the user running it, right after the build
(``deployed_bindings``), each read first and added only when absent.

``make schedule`` adds a fourth account, the scheduler's (``numerai-scheduler``), whose
OAuth token Cloud Scheduler mints to call the Admin API's jobs:run: the same
``roles/run.jobsExecutorWithOverrides``, on each scheduled job only, and nothing else.
Cloud Scheduler's own service agent needs ``roles/cloudscheduler.serviceAgent`` on the
project to mint that token; Google grants it when the API is enabled (projects that
enabled it before 2019-03-19 lack it), so it is checked and added only when missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common.contract import PUBLIC_ID_SECRET, SECRET_KEY_SECRET, WEBHOOK_TOKEN_SECRET
from ops.gcloud import Gcloud
from ops.settings import OpsSettings

SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"  # noqa: S105 (a role name)
JOB_EXECUTOR_WITH_OVERRIDES = "roles/run.jobsExecutorWithOverrides"
SERVICE_ACCOUNT_USER = "roles/iam.serviceAccountUser"
RUN_ADMIN = "roles/run.admin"
RUN_DEVELOPER = "roles/run.developer"
RUN_INVOKER = "roles/run.invoker"
RUN_VIEWER = "roles/run.viewer"
# Anyone on the internet, for the service's invoker role (the token guards the webhook).
ALL_USERS = "allUsers"
ARTIFACT_WRITER = "roles/artifactregistry.writer"
OBJECT_VIEWER = "roles/storage.objectViewer"
LOG_WRITER = "roles/logging.logWriter"
SCHEDULER_AGENT = "roles/cloudscheduler.serviceAgent"
# What IAM answers while a just-created service account has not propagated yet.
SA_NOT_YET_VISIBLE = ("does not exist",)


@dataclass(frozen=True)
class Binding:
    """One role for one member on one resource.

    ``get`` is the gcloud command that prints the resource's policy, ``add`` the one
    that adds this binding; both without the member/role flags.
    """

    what: str
    get: tuple[str, ...]
    add: tuple[str, ...]
    member: str
    role: str

    def add_args(self) -> list[str]:
        return [*self.add, f"--member={self.member}", f"--role={self.role}"]

    def remove_args(self) -> list[str]:
        """The command that removes this binding (every ``add`` has a ``remove`` twin)."""
        remove = [
            "remove-iam-policy-binding" if a == "add-iam-policy-binding" else a for a in self.add
        ]
        return [*remove, f"--member={self.member}", f"--role={self.role}"]


def _secret(s: OpsSettings, name: str, member: str, role: str) -> Binding:
    project = f"--project={s.project}"
    return Binding(
        what=f"{role} on secret {name}",
        get=("secrets", "get-iam-policy", name, project),
        add=("secrets", "add-iam-policy-binding", name, project),
        member=member,
        role=role,
    )


def _account(s: OpsSettings, email: str, member: str, role: str) -> Binding:
    project = f"--project={s.project}"
    return Binding(
        what=f"{role} on service account {email}",
        get=("iam", "service-accounts", "get-iam-policy", email, project),
        add=("iam", "service-accounts", "add-iam-policy-binding", email, project),
        member=member,
        role=role,
    )


def _project(s: OpsSettings, member: str, role: str) -> Binding:
    return Binding(
        what=f"{role} on project {s.project}",
        get=("projects", "get-iam-policy", s.project),
        # --condition=None: add an unconditional binding without an interactive prompt
        # when the project policy already holds conditional ones.
        add=("projects", "add-iam-policy-binding", s.project, "--condition=None"),
        member=member,
        role=role,
    )


def _run_resource(s: OpsSettings, kind: str, name: str, member: str, role: str) -> Binding:
    """A binding on one Cloud Run resource (``kind``: jobs or services), not the project."""
    where = (name, f"--region={s.region}", f"--project={s.project}")
    return Binding(
        what=f"{role} on Cloud Run {kind.removesuffix('s')} {name}",
        get=("run", kind, "get-iam-policy", *where),
        add=("run", kind, "add-iam-policy-binding", *where),
        member=member,
        role=role,
    )


def run_job(s: OpsSettings, job: str, member: str, role: str) -> Binding:
    """A binding on one Cloud Run job (not the project)."""
    return _run_resource(s, "jobs", job, member, role)


def scheduler_agent(project_number: str) -> str:
    """Cloud Scheduler's Google-managed service agent of a project."""
    return f"serviceAccount:service-{project_number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"


def scheduler_bindings(s: OpsSettings, jobs: Sequence[str], project_number: str) -> list[Binding]:
    """What scheduled runs need: the agent's role, and running each job as the scheduler SA."""
    scheduler = f"serviceAccount:{s.scheduler_sa_email}"
    return [
        _project(s, scheduler_agent(project_number), SCHEDULER_AGENT),
        *(run_job(s, job, scheduler, JOB_EXECUTOR_WITH_OVERRIDES) for job in jobs),
    ]


def _repository(s: OpsSettings, member: str, role: str) -> Binding:
    where = (s.repository, f"--location={s.region}", f"--project={s.project}")
    return Binding(
        what=f"{role} on repository {s.repository}",
        get=("artifacts", "repositories", "get-iam-policy", *where),
        add=("artifacts", "repositories", "add-iam-policy-binding", *where),
        member=member,
        role=role,
    )


def _bucket(s: OpsSettings, member: str, role: str) -> Binding:
    return Binding(
        what=f"{role} on bucket {s.staging_bucket}",
        get=("storage", "buckets", "get-iam-policy", s.staging_bucket, f"--project={s.project}"),
        add=(
            "storage",
            "buckets",
            "add-iam-policy-binding",
            s.staging_bucket,
            f"--project={s.project}",
        ),
        member=member,
        role=role,
    )


def bindings(s: OpsSettings) -> list[Binding]:
    job = f"serviceAccount:{s.job_sa_email}"
    dispatcher = f"serviceAccount:{s.dispatcher_sa_email}"
    build = f"serviceAccount:{s.build_sa_email}"
    return [
        _secret(s, PUBLIC_ID_SECRET, job, SECRET_ACCESSOR),
        _secret(s, SECRET_KEY_SECRET, job, SECRET_ACCESSOR),
        _secret(s, WEBHOOK_TOKEN_SECRET, dispatcher, SECRET_ACCESSOR),
        _project(s, build, RUN_DEVELOPER),
        _project(s, build, LOG_WRITER),
        _account(s, s.job_sa_email, build, SERVICE_ACCOUNT_USER),
        _account(s, s.dispatcher_sa_email, build, SERVICE_ACCOUNT_USER),
        _repository(s, build, ARTIFACT_WRITER),
        _bucket(s, build, OBJECT_VIEWER),
    ]


def revoked(s: OpsSettings) -> list[Binding]:
    """Bindings an earlier version of this project granted and setup now takes away."""
    return [_project(s, f"serviceAccount:{s.build_sa_email}", RUN_ADMIN)]


def run_service(s: OpsSettings, service: str, member: str, role: str) -> Binding:
    """A binding on one Cloud Run service (not the project)."""
    return _run_resource(s, "services", service, member, role)


def deployed_bindings(s: OpsSettings, *, job: str, with_service: bool) -> list[Binding]:
    """What ``make release`` grants once the build has deployed ``job`` (and the service):
    the dispatcher may run the job with overrides and list its executions; anyone may
    call the service (the webhook token is checked by the dispatcher itself)."""
    dispatcher = f"serviceAccount:{s.dispatcher_sa_email}"
    grants = [
        run_job(s, job, dispatcher, JOB_EXECUTOR_WITH_OVERRIDES),
        run_job(s, job, dispatcher, RUN_VIEWER),
    ]
    if with_service:
        grants.append(run_service(s, s.service_name, ALL_USERS, RUN_INVOKER))
    return grants


def has_binding(policy: Any, member: str, role: str) -> bool:
    """True if the policy grants ``role`` to ``member`` without a condition."""
    if not isinstance(policy, dict):
        return False
    entries: Sequence[Any] = policy.get("bindings") or []
    return any(
        isinstance(b, dict)
        and b.get("role") == role
        and not b.get("condition")
        and member in (b.get("members") or [])
        for b in entries
    )


def ensure_absent(g: Gcloud, binding: Binding) -> bool:
    """Remove the binding if the policy has it; True if something changed."""
    policy = g.read_json(binding.get)
    if not has_binding(policy, binding.member, binding.role):
        return False
    g.run(binding.remove_args(), capture=True)
    return True


def ensure(g: Gcloud, binding: Binding) -> bool:
    """Add the binding unless the policy already has it; True if something changed."""
    policy = g.read_json(binding.get)
    if has_binding(policy, binding.member, binding.role):
        return False
    # The command answers with the whole policy: captured, not worth printing. A service
    # account created seconds ago may not be visible to IAM yet: retried (bounded).
    g.run(binding.add_args(), capture=True, retry_on=SA_NOT_YET_VISIBLE)
    return True
