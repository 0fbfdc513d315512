"""``make rotate-token`` and ``make rotate-token FINISH=1``: a new webhook token, no downtime.

Start: a new version of the token secret; the dispatcher redeployed (a new revision of
the same image) pinned to both versions — ``WEBHOOK_TOKEN`` the new one,
``WEBHOOK_TOKEN_PREVIOUS`` the old one — so webhooks carrying either are accepted; then
every registered model's webhook URL set on Numerai with the new token. Webhooks Numerai
sends meanwhile, with the old URL, still get through.

Finish, once Numerai has the new URLs (say, after the next round): the dispatcher
redeployed with the new version only, and the old version disabled, so the old token is
refused everywhere, for good.

The versions are always explicit: a dispatcher never reads ``:latest``, which would change
its token at whatever moment a new instance starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from common.contract import WEBHOOK_TOKEN_ENV, WEBHOOK_TOKEN_PREVIOUS_ENV, WEBHOOK_TOKEN_SECRET
from ops import models, numerai, webhook
from ops.deployed import LATEST, describe_service_url, latest_version, pinned_token_versions
from ops.gcloud import Gcloud, OpsError, Secret
from ops.settings import ConfigError, OpsSettings, parse_flag
from ops.setup import new_webhook_token

FINISH_HINT = "`make rotate-token FINISH=1`"


def run_rotate_token(s: OpsSettings, g: Gcloud, environ: Mapping[str, str], out: IO[str]) -> int:
    pinned = pinned_token_versions(g, s)
    if pinned is not None and not pinned:
        raise ConfigError(f"service {s.service_name} is not deployed: run `make release` first")
    if parse_flag(environ, "FINISH"):
        return _finish(s, g, pinned, out)
    return _start(s, g, environ, pinned, out)


def _start(
    s: OpsSettings,
    g: Gcloud,
    environ: Mapping[str, str],
    pinned: dict[str, str] | None,
    out: IO[str],
) -> int:
    if pinned and WEBHOOK_TOKEN_PREVIOUS_ENV in pinned:
        raise ConfigError(f"a rotation is already under way: finish it first with {FINISH_HINT}")
    entries = list(models.load(s.models_file).models)
    # Everything that could stop the rotation is checked before anything changes.
    keys = numerai.numerai_keys(s, g, environ)
    if keys is not None:
        numerai.client_class(webhook.NEEDS_NUMERAPI)
    old = _current_version(g, s, pinned)
    token = new_webhook_token()
    new = _add_token_version(g, s, token)
    both = f"{WEBHOOK_TOKEN_ENV}={_ref(new)},{WEBHOOK_TOKEN_PREVIOUS_ENV}={_ref(old)}"
    _redeploy(g, s, f"--update-secrets={both}")
    service_url = describe_service_url(g, s)
    if keys is None:  # a dry run
        print(f"[dry run] would register the new URL of {len(entries)} model(s)", file=out)
        return 0
    urls = [(e, webhook.webhook_url(service_url or "", e.id, token.value)) for e in entries]
    try:
        webhook.register_urls(environ, keys, urls, (token.value, *keys.values), out)
    except OpsError as exc:
        raise OpsError(
            f"{exc}. The dispatcher accepts both tokens meanwhile: fix the cause and register "
            "the new URLs with `make webhook-url MODEL=all REGISTER=1`, then finish with "
            f"{FINISH_HINT}"
        ) from None
    print(
        f"rotation started: the dispatcher accepts versions {new} (new) and {old} (old) of "
        f"{WEBHOOK_TOKEN_SECRET}; Numerai has the new URL of all {len(entries)} model(s). Once "
        f"no webhook uses the old URL any more (after the next round), run {FINISH_HINT}",
        file=out,
    )
    return 0


def _finish(s: OpsSettings, g: Gcloud, pinned: dict[str, str] | None, out: IO[str]) -> int:
    if pinned is not None and WEBHOOK_TOKEN_PREVIOUS_ENV not in pinned:
        raise ConfigError("no rotation is under way: start one with `make rotate-token`")
    old = (pinned or {}).get(WEBHOOK_TOKEN_PREVIOUS_ENV, "<old version>")
    _redeploy(g, s, f"--remove-secrets={WEBHOOK_TOKEN_PREVIOUS_ENV}")
    g.run(
        [
            "secrets",
            "versions",
            "disable",
            old,
            f"--secret={WEBHOOK_TOKEN_SECRET}",
            f"--project={s.project}",
        ],
        capture=True,
    )
    if not g.dry_run:
        print(f"rotation finished: the old token (version {old}) is refused and disabled", file=out)
    return 0


def _current_version(g: Gcloud, s: OpsSettings, pinned: dict[str, str] | None) -> str:
    """The version the dispatcher reads now (a deployment from before pinning: the newest)."""
    current = (pinned or {}).get(WEBHOOK_TOKEN_ENV, LATEST)
    if current == LATEST:
        current = latest_version(g, s, WEBHOOK_TOKEN_SECRET) or "<old version>"
    return current


def _add_token_version(g: Gcloud, s: OpsSettings, token: Secret) -> str:
    """Add ``token`` as the secret's newest version (on stdin); its version number."""
    result = g.run(
        [
            "secrets",
            "versions",
            "add",
            WEBHOOK_TOKEN_SECRET,
            "--data-file=-",
            f"--project={s.project}",
            "--format=value(name)",
        ],
        stdin=token,
        capture=True,
    )
    if result is None:  # a dry run
        return "<new version>"
    version = result.stdout.strip().rsplit("/", 1)[-1]
    if not version.isdigit():
        raise OpsError(f"gcloud did not name the new version of {WEBHOOK_TOKEN_SECRET}")
    return version


def _ref(version: str) -> str:
    return f"{WEBHOOK_TOKEN_SECRET}:{version}"


def _redeploy(g: Gcloud, s: OpsSettings, secrets_flag: str) -> None:
    """Redeploy the dispatcher (same image, a new revision) with its secret references
    changed by ``secrets_flag``."""
    g.run(
        [
            "run",
            "services",
            "update",
            s.service_name,
            f"--region={s.region}",
            f"--project={s.project}",
            secrets_flag,
            "--quiet",
        ],
        capture=True,
    )
