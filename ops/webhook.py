"""``make webhook-url MODEL=… [REGISTER=1]``: the URL to paste into Numerai's Compute page.

``<service url>/pred/<model id>?token=<webhook token>``. The token is read from Secret
Manager (captured, never echoed) and appears only inside the URL the user asked for,
on stdout. ``REGISTER=1`` sets it for the model through numerapi's
``set_submission_webhook`` (keys and client from ``ops.numerai``), and then prints
nothing secret at all.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import IO

from common.contract import WEBHOOK_TOKEN_ENV, WEBHOOK_TOKEN_SECRET
from common.redact import scrub
from common.registry import ModelEntry
from ops import models, numerai
from ops.deployed import LATEST, describe_service_url, pinned_token_versions, secret_value
from ops.gcloud import HIDDEN, Gcloud, OpsError
from ops.settings import ConfigError, OpsSettings, parse_flag

DRY_RUN_URL = "<service-url>"
DRY_RUN_TOKEN = "<token>"  # noqa: S105 (a placeholder)
NEEDS_NUMERAPI = "REGISTER=1 needs numerapi: run `make bootstrap` (make webhook-url uses it then)"


def webhook_url(service_url: str, model_id: str, token: str) -> str:
    return f"{service_url.rstrip('/')}/pred/{model_id}?token={urllib.parse.quote(token, safe='')}"


def webhook_token(g: Gcloud, s: OpsSettings) -> str | None:
    """The token the deployed dispatcher accepts — the secret's version it is pinned to,
    which is not always the newest (a rotation stopped half-way) — never printed; None in
    a dry run. Before the first release, the newest."""
    pinned = pinned_token_versions(g, s) or {}
    version = pinned.get(WEBHOOK_TOKEN_ENV, LATEST)
    token = secret_value(g, s, WEBHOOK_TOKEN_SECRET, version)
    if token is not None and not token:
        raise ConfigError(f"secret {WEBHOOK_TOKEN_SECRET} is empty: run `make setup`")
    return token


def run_webhook_url(s: OpsSettings, g: Gcloud, environ: Mapping[str, str], out: IO[str]) -> int:
    registry = models.load(s.models_file)
    entries = models.resolve(registry, environ.get("MODEL"))
    register = parse_flag(environ, "REGISTER")
    service_url = describe_service_url(g, s)
    if service_url is not None and not service_url.startswith("https://"):
        raise ConfigError(
            f"service {s.service_name} in {s.region} has no URL yet "
            f"(got {service_url!r}): run `make release` first"
        )
    token = webhook_token(g, s)
    urls = [
        (e, webhook_url(service_url or DRY_RUN_URL, e.id, token or DRY_RUN_TOKEN)) for e in entries
    ]
    if not register:
        for entry, url in urls:
            print(url if len(urls) == 1 else f"{entry.name}\t{url}", file=out)
        return 0
    keys = numerai.numerai_keys(s, g, environ)
    if keys is None:  # a dry run
        for entry, _url in urls:
            print(f"[dry run] would register the webhook of {entry.name} ({entry.id})", file=out)
        return 0
    register_urls(environ, keys, urls, (token or "", *keys.values), out)
    return 0


def register_urls(
    environ: Mapping[str, str],
    keys: numerai.NumeraiKeys,
    urls: list[tuple[ModelEntry, str]],
    secrets: tuple[str, ...],
    out: IO[str],
) -> None:
    api = numerai.numerai_client(environ, keys, needs=NEEDS_NUMERAPI)
    for entry, url in urls:
        try:
            accepted = api.set_submission_webhook(entry.id, url)
        except Exception as exc:  # NumeraiError/TransientError, numerapi's KeyError
            reason = scrub(f"{type(exc).__name__}: {exc}", secrets, mask=HIDDEN)
            raise OpsError(
                f"Numerai refused the webhook of {entry.name} ({entry.id}): {reason} "
                "(wrong keys? the model must belong to the account of these keys)"
            ) from None
        if not accepted:
            raise OpsError(f"Numerai did not confirm the webhook of {entry.name} ({entry.id})")
        print(f"registered the webhook of {entry.name} ({entry.id})", file=out)
