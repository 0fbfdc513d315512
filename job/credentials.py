"""Numerai API keys: from the environment, else from Secret Manager.

``NUMERAI_PUBLIC_ID`` / ``NUMERAI_SECRET_KEY`` win (on Cloud Run, ``--set-secrets``
puts them there). Otherwise the two secrets are read from Secret Manager in
``GOOGLE_CLOUD_PROJECT``; google-cloud-secret-manager is imported only on that path.
The key values never appear in a message, a log line or a repr.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from common import redact
from common.contract import PROJECT_ENV, PUBLIC_ID_ENV, SECRET_KEY_ENV
from common.retry import RetryPolicy, TransientError
from job.settings import ConfigError, Settings

log = logging.getLogger(__name__)

BOTH = f"{PUBLIC_ID_ENV} and {SECRET_KEY_ENV}"


@dataclass(frozen=True)
class Credentials:
    public_id: str = field(repr=False)
    secret_key: str = field(repr=False)
    source: str = "environment"


def resolve(settings: Settings, environ: Mapping[str, str], *, retry: RetryPolicy) -> Credentials:
    """Raise ConfigError (exit 2) naming both variables when no keys can be had, or
    naming the variable (or secret) whose value cannot be a key. Once resolved, the key
    values are masked in every log line (a library's message may quote a header)."""
    keys = _resolve(settings, environ, retry)
    redact.install([keys.public_id, keys.secret_key])
    return keys


def _checked(value: str, where: str) -> str:
    """``value`` without surrounding whitespace; ConfigError if anything inside it is
    whitespace or a control character (a pasted line break, a stray tab). requests would
    refuse such a header with a message that quotes it — the key itself."""
    value = value.strip()
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ConfigError(
            f"{where} holds whitespace or control characters: copy the key again from "
            "numer.ai → Account → Custom API Keys"
        )
    return value


def _resolve(settings: Settings, environ: Mapping[str, str], retry: RetryPolicy) -> Credentials:
    public_id = _checked(environ.get(PUBLIC_ID_ENV) or "", PUBLIC_ID_ENV)
    secret_key = _checked(environ.get(SECRET_KEY_ENV) or "", SECRET_KEY_ENV)
    if public_id and secret_key:
        return Credentials(public_id, secret_key)
    if public_id or secret_key:
        given = PUBLIC_ID_ENV if public_id else SECRET_KEY_ENV
        raise ConfigError(f"Numerai credentials incomplete: set both {BOTH} (only {given} is set)")
    if not settings.project:
        raise ConfigError(
            f"no Numerai credentials: set {BOTH}, or {PROJECT_ENV} to read them from "
            f"Secret Manager secrets {settings.public_id_secret!r} / {settings.secret_key_secret!r}"
        )
    reader = SecretReader(
        settings.project,
        endpoint=settings.secret_manager_endpoint,
        timeout=settings.request_timeout,
    )
    values = [
        retry.call(lambda name=name: reader.read(name), what=f"Secret Manager read of {name!r}")
        for name in (settings.public_id_secret, settings.secret_key_secret)
    ]
    log.info(
        "Numerai credentials read from Secret Manager",
        extra={
            "fields": {
                "project": settings.project,
                "secrets": [settings.public_id_secret, settings.secret_key_secret],
            }
        },
    )
    return Credentials(values[0], values[1], source="secret manager")


class SecretReader:
    def __init__(self, project: str, *, endpoint: str | None, timeout: float):
        from google.api_core import exceptions
        from google.cloud import secretmanager

        self._exceptions = exceptions
        self.project = project
        self.timeout = timeout
        try:
            if endpoint:
                # Tests and rehearsals: a local fake of the REST API, no Google credentials.
                from google.auth.credentials import AnonymousCredentials

                self.client = secretmanager.SecretManagerServiceClient(
                    transport="rest",
                    credentials=AnonymousCredentials(),
                    client_options={"api_endpoint": endpoint},
                )
            else:
                self.client = secretmanager.SecretManagerServiceClient()
        except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError and kin
            raise ConfigError(
                f"no Numerai credentials: {BOTH} are unset and Secret Manager is unusable "
                f"({type(exc).__name__}: {exc})"
            ) from None

    def read(self, secret: str) -> str:
        exc_types = self._exceptions
        name = self.client.secret_version_path(self.project, secret, "latest")
        where = f"Secret Manager secret {secret!r} in project {self.project!r}"
        try:
            # retry=None: retries are ours (bounded, zero-delay in tests), not the library's 60 s.
            response = self.client.access_secret_version(
                request={"name": name}, retry=None, timeout=self.timeout
            )
        except (
            exc_types.ServiceUnavailable,
            exc_types.InternalServerError,
            exc_types.TooManyRequests,
            exc_types.GatewayTimeout,
            exc_types.DeadlineExceeded,
        ) as exc:
            raise TransientError(f"{where}: {exc.code} {type(exc).__name__}") from None
        except exc_types.GoogleAPICallError as exc:
            raise ConfigError(
                f"no Numerai credentials: {BOTH} are unset and {where} cannot be read "
                f"({exc.code} {type(exc).__name__})"
            ) from None
        except OSError as exc:  # requests' ConnectionError is an OSError
            raise TransientError(f"{where}: {type(exc).__name__}") from None
        try:
            value = _checked(response.payload.data.decode("utf-8"), where)
        except UnicodeDecodeError:
            raise ConfigError(f"{where} is not text: store the key itself") from None
        if not value:
            raise ConfigError(f"no Numerai credentials: {BOTH} are unset and {where} is empty")
        return value
