"""What a Google REST API fake receives and answers: requests, responses, error JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# HTTP status → the canonical status string Google APIs put in their error JSON
# (google.rpc.Code names); api_core maps the HTTP status to its exception class.
GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",  # not a google.rpc code: only for proxy CONNECT refusals
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def google_error(status: int, message: str) -> dict[str, Any]:
    """The JSON error body every Google REST API answers with."""
    return {
        "error": {
            "code": status,
            "message": message,
            "status": GOOGLE_STATUS.get(status, "UNKNOWN"),
        }
    }


def rfc3339(epoch: float) -> str:
    """Timestamp the way protobuf JSON writes google.protobuf.Timestamp."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class RequestRecord:
    """One HTTP request the fake received (any path, any host)."""

    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    status: int
    body: bytes = b""
    foreign: bool = False  # addressed to a host that is not this fake: refused
    auth_scheme: str = ""  # "Bearer" when credentials were sent (the token is never kept)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Request:
    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}


@dataclass
class Response:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)
