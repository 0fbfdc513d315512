"""Upload a validated CSV so that Numerai links it to the trigger, and prove it arrived.

numerapi's ``upload_predictions`` never looks at the PUT's status, so a refused upload
would still be "submitted". We take its steps one by one, with numerapi's pieces:
``_upload_auth`` (a presigned URL), one PUT whose status we check, then the
``create_submission`` mutation through the bounded ``raw_query``. Success means the
PUT answered 2xx and ``create_submission`` returned an id.
"""

from __future__ import annotations

import logging

import requests

from common.retry import RetryPolicy, TransientError
from numerai_data.client import CONNECT_TIMEOUT, TRANSIENT_STATUSES, NumeraiClient, NumeraiError

# The name Numerai stores the upload under; numerapi's default too.
UPLOAD_FILENAME = "predictions.csv"

CREATE_SUBMISSION = """
    mutation($filename: String!
             $tournament: Int!
             $modelId: String
             $triggerId: String) {
        create_submission(filename: $filename
                          tournament: $tournament
                          modelId: $modelId
                          triggerId: $triggerId
                          source: "numerapi") {
            id
        }
    }
"""


class UploadRefused(NumeraiError):
    """The storage PUT was refused (4xx): the file did not arrive."""


def submit(
    client: NumeraiClient,
    csv: bytes,
    *,
    model_id: str,
    trigger_id: str | None,
    retry: RetryPolicy,
    logger: logging.Logger | logging.LoggerAdapter,
) -> str:
    """Upload ``csv`` for ``model_id``; return the submission id Numerai created."""

    def upload() -> str:
        # A fresh presigned URL on every attempt: a retried PUT must not reuse an expired one.
        auth = client._upload_auth(
            "submission_upload_auth", UPLOAD_FILENAME, client.tournament_id, model_id
        )
        if not isinstance(auth, dict) or not auth.get("url") or not auth.get("filename"):
            raise NumeraiError("submission_upload_auth returned no upload URL")
        _put(auth["url"], csv, read_timeout=client.timeout[1])
        return auth["filename"]

    filename = retry.call(upload, what="upload", logger=logger)
    logger.info("uploaded %d bytes", len(csv), extra={"fields": {"bytes": len(csv)}})

    def create() -> str | None:
        variables = {
            "filename": filename,
            "tournament": client.tournament_id,
            "modelId": model_id,
            "triggerId": trigger_id,
        }
        data = client.raw_query(CREATE_SUBMISSION, variables, authorization=True)["data"]
        created = (data or {}).get("create_submission") or {}
        return created.get("id")

    submission_id = retry.call(create, what="create_submission", logger=logger)
    if not submission_id:
        raise NumeraiError("create_submission returned no submission id")
    return str(submission_id)


def _put(url: str, body: bytes, *, read_timeout: float) -> None:
    try:
        response = requests.put(url, data=body, timeout=(CONNECT_TIMEOUT, read_timeout))
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"upload PUT failed ({type(exc).__name__})") from None
    # The URL is presigned: its query string is a credential, so it is never logged.
    if response.status_code in TRANSIENT_STATUSES:
        raise TransientError(f"upload PUT answered HTTP {response.status_code}")
    if not 200 <= response.status_code < 300:
        raise UploadRefused(
            f"upload PUT answered HTTP {response.status_code}; the file did not arrive"
        )
