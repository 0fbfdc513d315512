"""What the deployed project holds, read through gcloud: a secret's value, the service URL.

Shared by the verbs that talk to the deployment (webhook-url, smoke, Numerai keys). The
values come back on gcloud's stdout, captured and never echoed; in a dry run nothing is
read and the answer is None.
"""

from __future__ import annotations

from ops.gcloud import Gcloud
from ops.settings import OpsSettings


def secret_value(g: Gcloud, s: OpsSettings, name: str) -> str | None:
    """The latest version of secret ``name`` (never printed); None in a dry run."""
    return g.read(
        ["secrets", "versions", "access", "latest", f"--secret={name}", f"--project={s.project}"]
    )


def describe_service_url(g: Gcloud, s: OpsSettings) -> str | None:
    """The dispatcher's URL from Cloud Run ('' before the first release); None in a dry run."""
    return g.read(
        [
            "run",
            "services",
            "describe",
            s.service_name,
            f"--region={s.region}",
            f"--project={s.project}",
            "--format=value(status.url)",
        ]
    )
