"""``make webhook-url MODEL=… [REGISTER=1]``: the URL to paste into Numerai's Compute page.

``<service url>/pred/<model id>?token=<webhook token>``. The token is read from Secret
Manager (captured, never echoed) and appears only inside the URL the user asked for,
on stdout. ``REGISTER=1`` sets it for the model through numerapi's
``set_submission_webhook`` (keys from NUMERAI_PUBLIC_ID/NUMERAI_SECRET_KEY, else from
the project's secrets), and then prints nothing secret at all.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from typing import IO, Protocol

from common.contract import (
    API_URL_ENV,
    PUBLIC_ID_ENV,
    PUBLIC_ID_SECRET,
    SECRET_KEY_ENV,
    SECRET_KEY_SECRET,
    WEBHOOK_TOKEN_SECRET,
)
from ops import models
from ops.gcloud import Gcloud, OpsError
from ops.settings import ConfigError, OpsSettings, parse_flag

DRY_RUN_URL = "<service-url>"
DRY_RUN_TOKEN = "<token>"  # noqa: S105 (a placeholder)


class WebhookSetter(Protocol):
    def __call__(self, public_id: str, secret_key: str, model_id: str, url: str) -> bool: ...


def numerapi_setter(api_url: str | None) -> WebhookSetter:
    """The real thing: numerapi (the job extra), imported only when registering."""

    def set_webhook(public_id: str, secret_key: str, model_id: str, url: str) -> bool:
        try:
            import numerapi
            from numerapi import base_api
        except ImportError:
            raise ConfigError(
                "REGISTER=1 needs numerapi: run `make bootstrap` (make webhook-url uses it then)"
            ) from None
        if api_url:
            # numerapi has no constructor argument for its endpoint (docs/design.md).
            base_api.API_TOURNAMENT_URL = api_url
        api = numerapi.NumerAPI(public_id=public_id, secret_key=secret_key)
        return bool(api.set_submission_webhook(model_id, url))

    return set_webhook


def webhook_url(service_url: str, model_id: str, token: str) -> str:
    return f"{service_url.rstrip('/')}/pred/{model_id}?token={urllib.parse.quote(token, safe='')}"


def secret_value(g: Gcloud, s: OpsSettings, name: str) -> str | None:
    """The latest version of secret ``name``, captured from gcloud's stdout (never printed);
    None in a dry run."""
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


def _scrub(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<hidden>")
    return text


def run_webhook_url(
    s: OpsSettings,
    g: Gcloud,
    environ: Mapping[str, str],
    out: IO[str],
    setter_factory: Callable[[str | None], WebhookSetter] = numerapi_setter,
) -> int:
    registry = models.load(s.models_file)
    entries = models.resolve(registry, environ.get("MODEL"))
    register = parse_flag(environ, "REGISTER")
    service_url = describe_service_url(g, s)
    if service_url is not None and not service_url.startswith("https://"):
        raise ConfigError(
            f"service {s.service_name} in {s.region} has no URL yet "
            f"(got {service_url!r}): run `make release` first"
        )
    token = secret_value(g, s, WEBHOOK_TOKEN_SECRET)
    if token is not None and not token:
        raise ConfigError(f"secret {WEBHOOK_TOKEN_SECRET} is empty: run `make setup`")
    urls = [
        (e, webhook_url(service_url or DRY_RUN_URL, e.id, token or DRY_RUN_TOKEN)) for e in entries
    ]
    if not register:
        for entry, url in urls:
            print(url if len(urls) == 1 else f"{entry.name}\t{url}", file=out)
        return 0

    public_id = environ.get(PUBLIC_ID_ENV, "").strip()
    secret_key = environ.get(SECRET_KEY_ENV, "").strip()
    if not (public_id and secret_key):
        public_id = public_id or secret_value(g, s, PUBLIC_ID_SECRET) or ""
        secret_key = secret_key or secret_value(g, s, SECRET_KEY_SECRET) or ""
    if g.dry_run:
        for entry, _url in urls:
            print(f"[dry run] would register the webhook of {entry.name} ({entry.id})", file=out)
        return 0
    if not (public_id and secret_key):
        raise ConfigError(
            "REGISTER=1 needs NUMERAI_PUBLIC_ID and NUMERAI_SECRET_KEY (in the environment "
            f"or in the secrets {PUBLIC_ID_SECRET} / {SECRET_KEY_SECRET})"
        )
    setter = setter_factory(environ.get(API_URL_ENV) or None)
    for entry, url in urls:
        try:
            accepted = setter(public_id, secret_key, entry.id, url)
        except ConfigError:
            raise
        except Exception as exc:  # numerapi raises ValueError/KeyError/requests errors
            reason = _scrub(f"{type(exc).__name__}: {exc}", token or "", public_id, secret_key)
            raise OpsError(
                f"Numerai refused the webhook of {entry.name} ({entry.id}): {reason} "
                "(wrong keys? the model must belong to the account of these keys)"
            ) from None
        if not accepted:
            raise OpsError(f"Numerai did not confirm the webhook of {entry.name} ({entry.id})")
        print(f"registered the webhook of {entry.name} ({entry.id})", file=out)
    return 0
