"""``make alerts`` and ``make alerts-off``: list first, then create, update or delete only
what differs (the package docstring says what and why)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from common.contract import EXIT_OK
from ops import models
from ops.alerts.policies import (
    CHANNELS,
    EMAIL_CHANNEL,
    EXECUTION_FAILED,
    LABEL_KEY,
    MODEL_FAILED,
    MONITORING_API,
    POLICIES,
    ours,
    parse_emails,
    same,
    wanted_policies,
)
from ops.gcloud import Gcloud
from ops.services import ensure_apis
from ops.settings import OpsSettings

# What a dry run shows where a channel created a moment earlier would be named.
_NEW_CHANNEL = "<new channel for {}>"


def _jobs(s: OpsSettings) -> list[str]:
    """The Cloud Run jobs of every registered model, each once."""
    registry = models.load(s.models_file)
    return list(dict.fromkeys(e.job_or(s.job_name) for e in registry.models))


def _list(g: Gcloud, s: OpsSettings, surface: Sequence[str], kinds: Sequence[str]) -> list:
    return ours(g.read_json([*surface, "list", f"--project={s.project}"]), kinds)


def _channels(g: Gcloud, s: OpsSettings, emails: Sequence[str], out: IO[str]) -> list[str]:
    """The channel of each address (created when missing), by resource name."""
    found = {
        (c.get("labels") or {}).get("email_address"): str(c.get("name"))
        for c in _list(g, s, CHANNELS, [EMAIL_CHANNEL])
    }
    names = []
    for email in emails:
        if email in found:
            print(f"e-mail channel for {email}: unchanged", file=out)
            names.append(found[email])
            continue
        name = g.read(
            [
                *CHANNELS,
                "create",
                f"--project={s.project}",
                f"--display-name=numerai-cloudrun: {email}",
                "--description=Alerts of numerai-cloudrun (make alerts)",
                "--type=email",
                f"--channel-labels=email_address={email}",
                f"--user-labels={LABEL_KEY}={EMAIL_CHANNEL}",
                "--format=value(name)",
            ]
        )
        print(f"e-mail channel for {email}: created", file=out)
        names.append(name or _NEW_CHANNEL.format(email))
    return names


def _apply_policy(
    g: Gcloud, s: OpsSettings, kind: str, wanted: dict[str, Any], found: list, scratch: Path
) -> str:
    """Create, update or leave one policy; what was done."""
    mine = [p for p in found if (p.get("userLabels") or {}).get(LABEL_KEY) == kind]
    current = mine[0] if mine else None
    for extra in mine[1:]:  # a second copy (two runs at once): one is enough
        g.run([*POLICIES, "delete", str(extra.get("name")), f"--project={s.project}", "--quiet"])
    if current is not None:
        channels = sorted(current.get("notificationChannels") or [])
        if same(wanted, {**current, "notificationChannels": channels}):
            return "unchanged"
    path = scratch / f"{kind}.json"
    text = json.dumps(wanted, indent=2)
    path.write_text(text + "\n", encoding="utf-8")
    print(f"policy file ({path}):\n{text}", file=g.out, flush=True)
    where = [f"--project={s.project}", f"--policy-from-file={path}"]
    if current is None:
        g.run([*POLICIES, "create", *where], capture=True)
        return "created"
    # Given a whole policy, update replaces it (no field mask): exactly the file.
    g.run([*POLICIES, "update", str(current.get("name")), *where], capture=True)
    return "updated"


def _drop_stale_channels(g: Gcloud, s: OpsSettings, keep: Sequence[str], out: IO[str]) -> None:
    for channel in _list(g, s, CHANNELS, [EMAIL_CHANNEL]):
        if channel.get("name") in keep:
            continue
        email = (channel.get("labels") or {}).get("email_address", "?")
        g.run([*CHANNELS, "delete", str(channel.get("name")), f"--project={s.project}", "--quiet"])
        print(f"e-mail channel for {email}: deleted (not in EMAIL)", file=out)


def run_alerts(s: OpsSettings, g: Gcloud, environ: Mapping[str, str], out: IO[str]) -> int:
    emails = parse_emails(environ.get("EMAIL"))
    jobs = _jobs(s)
    ensure_apis(g, s, [MONITORING_API])
    channels = _channels(g, s, emails, out)
    found = _list(g, s, POLICIES, [MODEL_FAILED, EXECUTION_FAILED])
    with tempfile.TemporaryDirectory(prefix="numerai-alerts-") as scratch:
        for kind, wanted in wanted_policies(s, jobs, channels).items():
            done = _apply_policy(g, s, kind, wanted, found, Path(scratch))
            print(f"alert policy {wanted['displayName']!r}: {done}", file=out)
    if g.dry_run:
        print("dry run: nothing was changed (DRY_RUN=1)", file=out)
        return EXIT_OK
    _drop_stale_channels(g, s, channels, out)
    print(
        f"alerts on for job(s) {', '.join(jobs)}: a model's failure or a failed execution "
        f"mails {', '.join(emails)}. `make alerts-off` removes them.",
        file=out,
    )
    return EXIT_OK


def run_alerts_off(s: OpsSettings, g: Gcloud, environ: Mapping[str, str], out: IO[str]) -> int:
    """Delete the policies first (a channel a policy names cannot be deleted), then the
    channels; only what carries our label."""
    policies = _list(g, s, POLICIES, [MODEL_FAILED, EXECUTION_FAILED])
    for policy in policies:
        g.run([*POLICIES, "delete", str(policy.get("name")), f"--project={s.project}", "--quiet"])
        print(f"deleted alert policy {policy.get('displayName')!r}", file=out)
    channels = _list(g, s, CHANNELS, [EMAIL_CHANNEL])
    for channel in channels:
        g.run([*CHANNELS, "delete", str(channel.get("name")), f"--project={s.project}", "--quiet"])
        email = (channel.get("labels") or {}).get("email_address", "?")
        print(f"deleted e-mail channel for {email}", file=out)
    if g.dry_run:
        print("dry run: nothing was listed or changed (DRY_RUN=1)", file=out)
    elif not policies and not channels:
        print(f"no alerts of numerai-cloudrun in {s.project}: nothing to delete", file=out)
    return EXIT_OK
