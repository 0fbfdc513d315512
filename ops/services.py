"""Google APIs a verb needs: listed first, enabled only when missing (idempotent)."""

from __future__ import annotations

from collections.abc import Sequence

from ops.gcloud import Gcloud
from ops.settings import OpsSettings


def ensure_apis(g: Gcloud, s: OpsSettings, apis: Sequence[str]) -> list[str]:
    """Enable each of ``apis`` the project lacks; the ones enabled (all of them in a dry
    run, where nothing is listed)."""
    listed = g.read(
        ["services", "list", "--enabled", f"--project={s.project}", "--format=value(config.name)"]
    )
    enabled = set((listed or "").split())
    missing = [api for api in apis if api not in enabled]
    if missing:
        g.run(["services", "enable", *missing, f"--project={s.project}"])
    return missing
