"""What the deployed project holds, read through gcloud: a secret's value, the service URL,
the webhook-token versions the dispatcher is pinned to.

Shared by the verbs that talk to the deployment (webhook-url, smoke, Numerai keys,
release, rotate-token). The values come back on gcloud's stdout, captured and never
echoed; in a dry run nothing is read and the answer is None.
"""

from __future__ import annotations

from typing import Any

from common.contract import WEBHOOK_TOKEN_ENV, WEBHOOK_TOKEN_PREVIOUS_ENV, WEBHOOK_TOKEN_SECRET
from ops.gcloud import Gcloud
from ops.settings import ConfigError, OpsSettings

# The dispatcher's variables that hold a webhook token (the second during a rotation).
TOKEN_VARIABLES = (WEBHOOK_TOKEN_ENV, WEBHOOK_TOKEN_PREVIOUS_ENV)
# How a deployment made before versions were pinned refers to the token.
LATEST = "latest"


def secret_value(g: Gcloud, s: OpsSettings, name: str, version: str = "latest") -> str | None:
    """A version of secret ``name``, the latest by default (never printed); None in a dry
    run."""
    return g.read(
        ["secrets", "versions", "access", version, f"--secret={name}", f"--project={s.project}"]
    )


def latest_version(g: Gcloud, s: OpsSettings, name: str) -> str | None:
    """The number of the newest version of secret ``name``; None in a dry run.
    ConfigError when the secret (or any version of it) does not exist."""
    found = g.describe_json(
        ["secrets", "versions", "describe", LATEST, f"--secret={name}", f"--project={s.project}"]
    )
    if found is None:
        return None
    version = str(found.get("name", "")).rsplit("/", 1)[-1]
    if not version.isdigit():
        raise ConfigError(f"secret {name} does not exist or has no version: run `make setup`")
    return version


def pinned_token_versions(g: Gcloud, s: OpsSettings) -> dict[str, str] | None:
    """Which version of the webhook-token secret each of the dispatcher's token variables
    holds ({} before the first release); None in a dry run."""
    service = g.describe_json(_describe_service(s))
    if service is None:
        return None
    pinned = {}
    for var in _container_env(service):
        ref = (var.get("valueFrom") or {}).get("secretKeyRef") or {}
        if var.get("name") in TOKEN_VARIABLES and ref.get("name") == WEBHOOK_TOKEN_SECRET:
            pinned[var["name"]] = str(ref.get("key") or LATEST)
    return pinned


def _container_env(service: Any) -> list[dict[str, Any]]:
    """The env of the service's container, from gcloud's (Knative v1) JSON."""
    spec = ((service.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = spec.get("containers") or [{}]
    return [v for v in containers[0].get("env") or [] if isinstance(v, dict)]


def describe_service_url(g: Gcloud, s: OpsSettings) -> str | None:
    """The dispatcher's URL from Cloud Run ('' before the first release); None in a dry run."""
    return g.read([*_describe_service(s), "--format=value(status.url)"])


def _describe_service(s: OpsSettings) -> list[str]:
    """``gcloud run services describe`` of the dispatcher's service."""
    return [
        "run",
        "services",
        "describe",
        s.service_name,
        f"--region={s.region}",
        f"--project={s.project}",
    ]
