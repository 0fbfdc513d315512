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

from common.contract import (
    PUBLIC_ID_ENV,
    PUBLIC_ID_SECRET,
    SECRET_KEY_ENV,
    SECRET_KEY_SECRET,
    WEBHOOK_TOKEN_SECRET,
)
from ops import iam
from ops.gcloud import Gcloud, Secret
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

# (environment variable, secret name, prompt label)
NUMERAI_KEYS = (
    (PUBLIC_ID_ENV, PUBLIC_ID_SECRET, "Numerai public id"),
    (SECRET_KEY_ENV, SECRET_KEY_SECRET, "Numerai secret key"),
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
    listed = g.read(
        [
            "services",
            "list",
            "--enabled",
            f"--project={s.project}",
            "--format=value(config.name)",
        ]
    )
    enabled = set((listed or "").split())
    missing = [api for api in APIS if api not in enabled]
    if missing:
        g.run(["services", "enable", *missing, f"--project={s.project}"])
    tally.note(bool(missing), "APIs")


def _ensure(g: Gcloud, tally: Tally, what: str, describe: list[str], create: list[str]) -> None:
    found = g.exists(describe)
    if not found:
        g.run(create)
    tally.note(not found, what)


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
    current = g.read(["secrets", "versions", "access", "latest", f"--secret={name}", project])
    changed = current != value.value
    if changed:
        g.run(
            ["secrets", "versions", "add", name, "--data-file=-", project],
            stdin=value,
            capture=True,
        )
    tally.note(changed, f"secret {name}")


def run_setup(
    s: OpsSettings,
    g: Gcloud,
    environ: Mapping[str, str],
    prompt: Prompt | None,
    out: IO[str],
) -> int:
    tally = Tally()
    project = f"--project={s.project}"
    rotate = parse_flag(environ, "ROTATE_WEBHOOK_TOKEN")

    _ensure_api(g, s, tally)
    _ensure(
        g,
        tally,
        f"repository {s.repository}",
        ["artifacts", "repositories", "describe", s.repository, f"--location={s.region}", project],
        [
            "artifacts",
            "repositories",
            "create",
            s.repository,
            "--repository-format=docker",
            f"--location={s.region}",
            "--description=numerai-cloudrun images",
            project,
        ],
    )
    _ensure(
        g,
        tally,
        f"bucket {s.staging_bucket}",
        ["storage", "buckets", "describe", s.staging_bucket, project],
        [
            "storage",
            "buckets",
            "create",
            s.staging_bucket,
            f"--location={s.region}",
            "--uniform-bucket-level-access",
            project,
        ],
    )
    for account_id, title in (
        (s.job_sa, "numerai job (reads the Numerai keys)"),
        (s.dispatcher_sa, "numerai dispatcher (runs the job)"),
        (s.build_sa, "numerai build (deploys)"),
    ):
        _ensure(
            g,
            tally,
            f"service account {account_id}",
            ["iam", "service-accounts", "describe", s.sa_email(account_id), project],
            ["iam", "service-accounts", "create", account_id, f"--display-name={title}", project],
        )

    others = " and ".join(variable for variable, _, _ in NUMERAI_KEYS)
    for variable, name, label in NUMERAI_KEYS:
        exists = g.exists(["secrets", "describe", name, project])
        hint = (
            f"{variable} is not set and there is no terminal to ask for it: secret {name} "
            f"does not exist yet; set {others} in the environment (not on the make "
            "command line, which lands in shell history), or run `make setup` in a terminal. "
            f"{UPLOAD_KEY_ADVICE}"
        )
        # Ask only for a missing secret: a second run with the keys stored asks nothing.
        ask = prompt if not exists and not g.dry_run else None
        _ensure_secret(g, s, tally, name, exists, _key_value(environ, variable, label, ask), hint)

    # The webhook token is generated, never typed: created once, replaced only on request.
    token_exists = g.exists(["secrets", "describe", WEBHOOK_TOKEN_SECRET, project])
    token = Secret(secrets.token_urlsafe(WEBHOOK_TOKEN_BYTES))
    if not token_exists:
        _ensure_secret(g, s, tally, WEBHOOK_TOKEN_SECRET, False, token, "")
    elif rotate:
        g.run(
            ["secrets", "versions", "add", WEBHOOK_TOKEN_SECRET, "--data-file=-", project],
            stdin=token,
            capture=True,
        )
        tally.note(True, f"secret {WEBHOOK_TOKEN_SECRET} (rotated)")
    else:
        tally.note(False, f"secret {WEBHOOK_TOKEN_SECRET}")

    for binding in iam.bindings(s):
        tally.note(iam.ensure(g, binding), binding.what)

    if g.dry_run:
        print("dry run: nothing was changed (DRY_RUN=1)", file=out)
    elif tally.changed:
        print(f"setup: {len(tally.changed)} change(s): {', '.join(tally.changed)}", file=out)
    else:
        print(f"setup: nothing to change ({len(tally.unchanged)} items already in place)", file=out)
    if not g.dry_run:
        print(
            "next: `make release`, then `make webhook-url MODEL=<name> REGISTER=1`"
            + (
                " (new webhook token: `make release` so the dispatcher reads it, then "
                "register every model's new URL)"
                if rotate
                else ""
            ),
            file=out,
        )
    return 0
