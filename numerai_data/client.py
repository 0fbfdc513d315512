"""numerapi, with every call bounded in time and its failures named.

numerapi's ``raw_query`` posts without a timeout and its ``post_with_err_handling``
swallows errors (sleeping 5 s and 10 s on a 5xx, then answering ``{}`` so the caller
dies on ``KeyError('data')``); its file download waits up to 600 s per read, has no bound
on the whole transfer, and resumes a partial file with TLS verification off. We override
``raw_query`` and ``download_dataset``; every other method (``get_current_round``,
``_upload_auth`` …) stays numerapi's own and goes through ``raw_query``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numerapi
import requests
from numerapi import base_api

from common.retry import TransientError
from numerai_data import DOWNLOAD_TIMEOUT_ENV

# Seconds to open a TCP/TLS connection; a reachable API answers a SYN in milliseconds.
CONNECT_TIMEOUT = 10.0
# Bytes read per chunk of a download: small enough to notice a deadline often.
DOWNLOAD_CHUNK_BYTES = 1 << 20
# numerapi's own query for a dataset file's (presigned) download URL.
DATASET_URL_QUERY = """
    query ($filename: String! $round: Int $tournament: Int) {
        dataset(filename: $filename round: $round tournament: $tournament)
    }
"""
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
        download_timeout: float | None = None,
    ):
        """``timeout``: seconds per exchange with the API (and per read of a download);
        ``download_timeout``: seconds for one whole file download (None: unbounded, for
        a trainer fetching a multi-GB train.parquet)."""
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
        self.download_timeout = download_timeout

    def __repr__(self) -> str:  # never show the token
        return f"NumeraiClient(api_url={self.api_url!r}, authenticated={self.token is not None})"

    def download_dataset(
        self, filename: str, dest_path: str | None = None, round_num: int | None = None
    ) -> str:
        """Download ``filename`` of ``round_num`` (None: the current round) to
        ``dest_path``, bounded per read and in all; TransientError when too slow."""
        variables = {"filename": filename, "round": round_num, "tournament": self.tournament_id}
        url = self.raw_query(DATASET_URL_QUERY, variables)["data"]["dataset"]
        if not isinstance(url, str) or not url:
            raise NumeraiError(f"Numerai has no file {filename} for round {round_num}")
        dest = dest_path or filename
        _fetch(url, dest, read_timeout=self.timeout[1], deadline=self.download_timeout)
        return dest

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


def _fetch(url: str, dest: str, *, read_timeout: float, deadline: float | None) -> None:
    """Stream ``url`` into ``dest`` (truncated first). Each read waits at most
    ``read_timeout``; the whole transfer at most ``deadline`` seconds. requests' own
    errors propagate (the dataset cache names them); a body shorter than its
    Content-Length is left for the cache's integrity check to catch."""
    started = time.monotonic()
    with requests.get(url, stream=True, timeout=(CONNECT_TIMEOUT, read_timeout)) as response:
        response.raise_for_status()
        with open(dest, "wb") as out:
            for chunk in response.iter_content(DOWNLOAD_CHUNK_BYTES):
                out.write(chunk)
                if deadline is not None and time.monotonic() - started > deadline:
                    raise TransientError(
                        f"download took longer than {deadline:g} s "
                        f"({out.tell()} bytes so far; {DOWNLOAD_TIMEOUT_ENV})"
                    )


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
