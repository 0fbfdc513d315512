"""``make setup``: idempotent first-time set-up of a Google Cloud project.

Check, then create: every resource is described first and created only when missing,
every IAM binding is read first and added only when absent, a secret gets a new
version only when its value changed. A second run with nothing new changes nothing.
"""

from __future__ import annotations

import getpass
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO

from common.contract import WEBHOOK_TOKEN_SECRET
from ops import iam
from ops.deployed import secret_value
from ops.gcloud import Gcloud, Secret
from ops.numerai import KEYS as NUMERAI_KEYS
from ops.services import ensure_apis
from ops.settings import ConfigError, OpsSettings, parse_flag

# Everything the deployment touches. cloudresourcemanager: project IAM policy reads;
# storage: the source staging bucket of `gcloud builds submit`.
APIS = (
    "run.googleapis.com",
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "secretmanager.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "storage.googleapis.com",
)
# The sink Cloud Logging routes a project's logs through by default (and the request log).
DEFAULT_SINK = "_Default"
# The exclusion setup adds to it: Cloud Run's request-log lines that carry the token.
TOKEN_EXCLUSION = "numerai-webhook-token-in-urls"  # noqa: S105 - an exclusion's name
# Bytes of randomness in a generated webhook token (43 URL-safe characters): far past
# guessing, and short enough to paste.
WEBHOOK_TOKEN_BYTES = 32
# Numerai API keys are 32 (public id) and 64 (secret) characters; anything much shorter
# is a paste accident. Checked loosely so a future format does not break setup.
_MIN_KEY_LENGTH = 16

# What the job's key needs, said where the keys are asked for: the job runs the models'
# code (a Model-Upload pickle runs whatever it holds), so its key can only upload.
UPLOAD_KEY_ADVICE = (
    "Use a Numerai API key with only the 'Upload submissions' scope (numer.ai → Account → "
    "Custom API Keys): the job needs no more. Keep a key with the Compute scope (for "
    "`make webhook-url REGISTER=1`) out of the job: pass it in the environment there only."
)

Prompt = Callable[[str], str]


@dataclass
class Tally:
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def note(self, changed: bool, what: str) -> None:
        (self.changed if changed else self.unchanged).append(what)


def hidden_prompt(stdin: IO[str] | None = None) -> Prompt | None:
    """getpass when a person is at the terminal; None (never prompt) otherwise."""
    stream = stdin if stdin is not None else sys.stdin
    if stream is None or not stream.isatty():
        return None
    advice = iter([f"{UPLOAD_KEY_ADVICE}\n"])  # shown once, above the first question
    return lambda label: getpass.getpass(f"{next(advice, '')}{label} (input hidden): ")


def _key_value(
    environ: Mapping[str, str], variable: str, label: str, prompt: Prompt | None
) -> Secret | None:
    value = environ.get(variable, "").strip()
    if not value and prompt is not None:
        value = prompt(label).strip()
    if not value:
        return None
    # Never echo the value: name the variable only.
    if len(value) < _MIN_KEY_LENGTH or any(c.isspace() for c in value):
        raise ConfigError(
            f"{variable}: does not look like a {label} (too short or contains spaces); "
            "copy it again from numer.ai → Account → Custom API Keys"
        )
    return Secret(value)


def _ensure_api(g: Gcloud, s: OpsSettings, tally: Tally) -> None:
    tally.note(bool(ensure_apis(g, s, APIS)), "APIs")


@dataclass(frozen=True)
class Resource:
    """A resource that is described first and created only when missing.

    ``describe`` and ``create`` are gcloud arguments without ``--project``.
    """

    what: str
    describe: tuple[str, ...]
    create: tuple[str, ...]


def resources(s: OpsSettings) -> tuple[Resource, ...]:
    """Everything setup creates with a plain create command, in the order it is checked."""
    location = f"--location={s.region}"
    repository = Resource(
        f"repository {s.repository}",
        ("artifacts", "repositories", "describe", s.repository, location),
        (
            "artifacts",
            "repositories",
            "create",
            s.repository,
            "--repository-format=docker",
            location,
            "--description=numerai-cloudrun images",
        ),
    )
    bucket = Resource(
        f"bucket {s.staging_bucket}",
        ("storage", "buckets", "describe", s.staging_bucket),
        (
            "storage",
            "buckets",
            "create",
            s.staging_bucket,
            location,
            "--uniform-bucket-level-access",
        ),
    )
    accounts = (
        (s.job_sa, "numerai job (reads the Numerai keys)"),
        (s.dispatcher_sa, "numerai dispatcher (runs the job)"),
        (s.build_sa, "numerai build (deploys)"),
    )
    return (
        repository,
        bucket,
        *(
            Resource(
                f"service account {account_id}",
                ("iam", "service-accounts", "describe", s.sa_email(account_id)),
                ("iam", "service-accounts", "create", account_id, f"--display-name={title}"),
            )
            for account_id, title in accounts
        ),
    )


def _ensure(g: Gcloud, s: OpsSettings, tally: Tally, resource: Resource) -> None:
    project = f"--project={s.project}"
    found = g.exists([*resource.describe, project])
    if not found:
        g.run([*resource.create, project])
    tally.note(not found, resource.what)


def _ensure_secret(
    g: Gcloud,
    s: OpsSettings,
    tally: Tally,
    name: str,
    exists: bool,
    value: Secret | None,
    hint: str,
) -> None:
    """Create the secret if missing, add a version if ``value`` differs from the latest."""
    project = f"--project={s.project}"
    if not exists:
        if value is None:
            if not g.dry_run:
                raise ConfigError(hint)
            value = Secret("")
        g.run(
            ["secrets", "create", name, "--replication-policy=automatic", "--data-file=-", project],
            stdin=value,
            capture=True,
        )
        tally.note(True, f"secret {name}")
        return
    if value is None:
        tally.note(False, f"secret {name}")
        return
    changed = secret_value(g, s, name) != value.value
    if changed:
        _add_version(g, s, name, value)
    tally.note(changed, f"secret {name}")


def _add_version(g: Gcloud, s: OpsSettings, name: str, value: Secret) -> None:
    g.run(
        ["secrets", "versions", "add", name, "--data-file=-", f"--project={s.project}"],
        stdin=value,
        capture=True,
    )


def _secret_exists(g: Gcloud, s: OpsSettings, name: str) -> bool:
    return g.exists(["secrets", "describe", name, f"--project={s.project}"])


def _ensure_keys(
    g: Gcloud, s: OpsSettings, tally: Tally, environ: Mapping[str, str], prompt: Prompt | None
) -> None:
    """The secrets of the Numerai keys (one row of NUMERAI_KEYS each), from the
    environment or, for a secret that does not exist yet, a prompt."""
    others = " and ".join(variable for variable, _, _ in NUMERAI_KEYS)
    for variable, name, label in NUMERAI_KEYS:
        exists = _secret_exists(g, s, name)
        hint = (
            f"{variable} is not set and there is no terminal to ask for it: secret {name} "
            f"does not exist yet; set {others} in the environment (not on the make "
            "command line, which lands in shell history), or run `make setup` in a terminal. "
            f"{UPLOAD_KEY_ADVICE}"
        )
        # Ask only for a missing secret: a second run with the keys stored asks nothing.
        ask = prompt if not exists and not g.dry_run else None
        _ensure_secret(g, s, tally, name, exists, _key_value(environ, variable, label, ask), hint)


def new_webhook_token() -> Secret:
    """A fresh webhook token: generated, never typed."""
    return Secret(secrets.token_urlsafe(WEBHOOK_TOKEN_BYTES))


def _ensure_webhook_token(g: Gcloud, s: OpsSettings, tally: Tally) -> None:
    """Created once; replaced only by `make rotate-token` (without downtime)."""
    exists = _secret_exists(g, s, WEBHOOK_TOKEN_SECRET)
    if not exists:
        _ensure_secret(g, s, tally, WEBHOOK_TOKEN_SECRET, False, new_webhook_token(), "")
    else:
        tally.note(False, f"secret {WEBHOOK_TOKEN_SECRET}")


def token_exclusion_filter(s: OpsSettings) -> str:
    """The Cloud Run request-log lines of the dispatcher whose URL carries the token.

    Cloud Run writes its own line for every request to a service
    (``run.googleapis.com/requests``) with ``httpRequest.requestUrl``, query string
    included: every webhook would store ``?token=…`` for 30 days, readable by anyone with
    Logs Viewer. The dispatcher's own webhook line keeps what matters (status, model,
    trigger, latency) without it."""
    return (
        'LOG_ID("run.googleapis.com/requests") AND resource.type="cloud_run_revision" '
        f'AND resource.labels.service_name="{s.service_name}" '
        'AND httpRequest.requestUrl:"token="'
    )


def _ensure_token_exclusion(g: Gcloud, s: OpsSettings, tally: Tally) -> None:
    """The exclusion on the _Default sink (where the request log goes), added or updated."""
    wanted = token_exclusion_filter(s)
    sink = g.describe_json(["logging", "sinks", "describe", DEFAULT_SINK, f"--project={s.project}"])
    found = [e for e in (sink or {}).get("exclusions") or [] if e.get("name") == TOKEN_EXCLUSION]
    if found and found[0].get("filter") == wanted and not found[0].get("disabled"):
        tally.note(False, f"log exclusion {TOKEN_EXCLUSION}")
        return
    flag = "--update-exclusion" if found else "--add-exclusion"
    g.run(
        [
            "logging",
            "sinks",
            "update",
            DEFAULT_SINK,
            f"{flag}=name={TOKEN_EXCLUSION},filter={wanted}",
            f"--project={s.project}",
        ],
        capture=True,
    )
    tally.note(True, f"log exclusion {TOKEN_EXCLUSION}")


def _report(tally: Tally, dry_run: bool, out: IO[str]) -> None:
    if dry_run:
        print("dry run: nothing was changed (DRY_RUN=1)", file=out)
        return
    if tally.changed:
        print(f"setup: {len(tally.changed)} change(s): {', '.join(tally.changed)}", file=out)
    else:
        print(f"setup: nothing to change ({len(tally.unchanged)} items already in place)", file=out)
    print("next: `make release`, then `make webhook-url MODEL=<name> REGISTER=1`", file=out)


def run_setup(
    s: OpsSettings,
    g: Gcloud,
    environ: Mapping[str, str],
    prompt: Prompt | None,
    out: IO[str],
) -> int:
    if parse_flag(environ, "ROTATE_WEBHOOK_TOKEN"):
        raise ConfigError(
            "ROTATE_WEBHOOK_TOKEN=1 is gone: `make rotate-token` replaces the token without "
            "downtime (the dispatcher accepts both while Numerai gets the new URLs)"
        )
    tally = Tally()
    _ensure_api(g, s, tally)
    for resource in resources(s):
        _ensure(g, s, tally, resource)
    _ensure_keys(g, s, tally, environ, prompt)
    _ensure_webhook_token(g, s, tally)
    for binding in iam.bindings(s):
        tally.note(iam.ensure(g, binding), binding.what)
    for binding in iam.revoked(s):
        if iam.ensure_absent(g, binding):
            tally.note(True, f"{binding.what} (removed: more than the build needs)")
    _ensure_token_exclusion(g, s, tally)
    _report(tally, g.dry_run, out)
    return 0
