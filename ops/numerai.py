"""Numerai from the deployment verbs: the account's keys, and a numerapi client.

Keys: NUMERAI_PUBLIC_ID / NUMERAI_SECRET_KEY from the environment; each one missing
there is read from the project's secret (captured from gcloud's stdout, never printed).
The client is numerai_data's NumeraiClient (numerapi with every call bounded in time and
its failures named), pointed at NUMERAI_API_URL when that is set (a local fake).
numerapi lives in .venv, so it is imported only when a client is asked for: the verbs
that never talk to Numerai keep running on a bare ``python3``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from common.contract import (
    API_URL_ENV,
    PUBLIC_ID_ENV,
    PUBLIC_ID_SECRET,
    SECRET_KEY_ENV,
    SECRET_KEY_SECRET,
)
from ops.deployed import secret_value
from ops.gcloud import Gcloud
from ops.settings import ConfigError, OpsSettings

if TYPE_CHECKING:
    from numerai_data.client import NumeraiClient

# Each key: (environment variable, secret, what it is), in the order they are looked up
# (and stored by `make setup`).
KEYS = (
    (PUBLIC_ID_ENV, PUBLIC_ID_SECRET, "Numerai public id"),
    (SECRET_KEY_ENV, SECRET_KEY_SECRET, "Numerai secret key"),
)
NEEDS_NUMERAPI = "this verb needs numerapi: run it through make, which uses .venv"


@dataclass(frozen=True)
class NumeraiKeys:
    public_id: str = field(repr=False)
    secret_key: str = field(repr=False)

    @property
    def values(self) -> tuple[str, str]:
        """Both keys: what an error message must be scrubbed of."""
        return self.public_id, self.secret_key


def numerai_keys(s: OpsSettings, g: Gcloud, environ: Mapping[str, str]) -> NumeraiKeys | None:
    """The account's keys: the environment first, else the latest version of each secret.

    None in a dry run (the reads were only printed): a dry run never talks to Numerai.
    ConfigError naming each key that is in neither place.
    """
    found = [
        environ.get(variable, "").strip() or secret_value(g, s, secret) or ""
        for variable, secret, _ in KEYS
    ]
    if g.dry_run:
        return None
    missing = [key for key, value in zip(KEYS, found, strict=True) if not value]
    if missing:
        variables = " and ".join(variable for variable, _, _ in missing)
        secrets = " and ".join(secret for _, secret, _ in missing)
        them, plural = ("them", "s") if len(missing) > 1 else ("it", "")
        raise ConfigError(
            f"no Numerai keys: set {variables} in the environment, or store {them} in "
            f"secret{plural} {secrets} with `make setup`"
        )
    public_id, secret_key = found
    return NumeraiKeys(public_id, secret_key)


def client_class(needs: str = NEEDS_NUMERAPI) -> type[NumeraiClient]:
    """numerai_data's NumeraiClient, imported now: a verb asks before it changes anything,
    so a missing numerapi is bad input (ConfigError ``needs``), not a half-done run."""
    try:
        from numerai_data.client import NumeraiClient
    except ImportError:
        raise ConfigError(needs) from None
    return NumeraiClient


def numerai_client(
    environ: Mapping[str, str], keys: NumeraiKeys | None, *, needs: str = NEEDS_NUMERAPI
) -> NumeraiClient:
    """A client authenticated with ``keys`` (None: public calls only), at NUMERAI_API_URL
    when set, each call bounded by numerai_data's request timeout."""
    client = client_class(needs)
    from numerai_data import DEFAULT_REQUEST_TIMEOUT

    public_id, secret_key = keys.values if keys is not None else (None, None)
    api_url = environ.get(API_URL_ENV, "").strip() or None
    # NumeraiClient points numerapi's module-level endpoint at api_url
    # (numerai_data.client.point_numerapi_at), the one place that does.
    return client(public_id, secret_key, api_url=api_url, timeout=DEFAULT_REQUEST_TIMEOUT)
