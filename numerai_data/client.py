"""numerapi, with every GraphQL call bounded in time and its failures named.

numerapi's ``raw_query`` posts without a timeout and its ``post_with_err_handling``
swallows errors (sleeping 5 s and 10 s on a 5xx, then answering ``{}`` so the caller
dies on ``KeyError('data')``). We override ``raw_query`` only; every other method
(``get_current_round``, ``download_dataset``, ``_upload_auth`` …) stays numerapi's own
and goes through it.
"""

from __future__ import annotations

import sys
from typing import Any

import numerapi
import requests
from numerapi import base_api

from common.retry import TransientError

# Seconds to open a TCP/TLS connection; a reachable API answers a SYN in milliseconds.
CONNECT_TIMEOUT = 10.0
# HTTP statuses that mean "try again": rate limiting and server-side failures.
TRANSIENT_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))


def point_numerapi_at(api_url: str | None) -> None:
    """Send every numerapi call in this process to ``api_url`` (a local fake), or leave
    numerapi's own endpoint when it is None or empty.

    numerapi has no constructor argument for its endpoint: it reads the module constant
    ``base_api.API_TOURNAMENT_URL`` on every call, so that constant is what is set.
    """
    if api_url:
        base_api.API_TOURNAMENT_URL = api_url


class NumeraiError(ValueError):
    """Numerai refused the request (GraphQL ``errors``, 4xx): retrying will not help.

    A ValueError, like numerapi's own, so numerapi's callers behave as they expect.
    """


class NumeraiClient(numerapi.NumerAPI):
    def __init__(
        self,
        public_id: str | None = None,
        secret_key: str | None = None,
        *,
        api_url: str | None = None,
        timeout: float,
    ):
        # numerapi calls logging.basicConfig; our handler is installed first, so it is a no-op.
        super().__init__(
            public_id,
            secret_key,
            verbosity="warning",
            show_progress_bars=sys.stderr.isatty(),
        )
        # numerapi falls back to os.environ for missing keys; we decide what is used.
        self.token = (public_id, secret_key) if public_id and secret_key else None
        point_numerapi_at(api_url)
        self.api_url = api_url or base_api.API_TOURNAMENT_URL
        self.timeout = (CONNECT_TIMEOUT, timeout)

    def __repr__(self) -> str:  # never show the token
        return f"NumeraiClient(api_url={self.api_url!r}, authenticated={self.token is not None})"

    def round_submission_filenames(self, model_id: str, round_num: int) -> list[str]:
        """The files of ``model_id``'s submission that counts for ``round_num``; empty when
        the model has none for that round.

        numerapi's ``get_submission_filenames`` (``model(modelId) { submissions { filename
        selected round { number tournament } } }``, keeping the selected ones), through the
        bounded ``raw_query``: errors are TransientError / NumeraiError like any call.
        """
        try:
            found = self.get_submission_filenames(
                tournament=self.tournament_id, round_num=round_num, model_id=model_id
            )
        except (KeyError, TypeError):  # "model": null, or an answer without the fields asked
            raise NumeraiError(
                f"Numerai's answer lists no submissions for model {model_id}"
            ) from None
        return [item["filename"] for item in found]

    def raw_query(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        authorization: bool = False,
        **_numerapi_retry_options: Any,  # retries/delay/backoff: ours live in common.retry
    ) -> dict[str, Any]:
        headers = {"Content-type": "application/json", "Accept": "application/json"}
        if authorization:
            if not self.token:
                raise NumeraiError("Numerai API keys are required for this call")
            public_id, secret_key = self.token
            headers["Authorization"] = f"Token {public_id}${secret_key}"
        try:
            response = requests.post(
                self.api_url,
                json={"query": query, "variables": variables},
                headers=headers,
                timeout=self.timeout,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"Numerai API unreachable ({type(exc).__name__})") from None
        if response.status_code in TRANSIENT_STATUSES:
            raise TransientError(f"Numerai API answered HTTP {response.status_code}")
        try:
            result = response.json()
        except ValueError:
            result = None
        if not isinstance(result, dict):
            if response.status_code >= 400:
                raise NumeraiError(f"Numerai API answered HTTP {response.status_code}")
            # A 200 without a JSON object: a proxy or load balancer hiccup.
            raise TransientError(f"Numerai API answered HTTP {response.status_code} without JSON")
        if result.get("errors"):
            raise NumeraiError(_error_message(result["errors"]))
        if response.status_code >= 400 or "data" not in result:
            raise NumeraiError(f"Numerai API answered HTTP {response.status_code} without data")
        return result


def _error_message(errors: Any) -> str:
    if isinstance(errors, list):
        messages = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
        return "; ".join(messages) or "unknown GraphQL error"
    if isinstance(errors, dict):
        return str(errors.get("detail") or errors.get("message") or errors)
    return str(errors)


def classify_http_error(exc: BaseException, what: str) -> Exception | None:
    """Map a plain ``requests`` failure (a download, the upload PUT) to TransientError or
    NumeraiError, with a message free of the URL (Numerai's file URLs are presigned, and
    the signature is a credential). None when ``exc`` is not a requests error."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        status = exc.response.status_code
        kind = TransientError if status in TRANSIENT_STATUSES else NumeraiError
        return kind(f"{what}: HTTP {status}")
    if isinstance(
        exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
    ):
        return TransientError(f"{what}: {type(exc).__name__}")
    if isinstance(exc, requests.RequestException):
        return NumeraiError(f"{what}: {type(exc).__name__}")
    return None
