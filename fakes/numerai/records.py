"""What the fake Numerai keeps: submissions, the request log, file bodies sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Submission:
    id: str
    model_id: str
    trigger_id: str | None
    round: int
    filename: str
    csv: bytes
    rows: int
    inserted_at: str = ""  # ISO 8601, UTC

    def summary(self) -> dict[str, Any]:
        """JSON-friendly view without the CSV bytes (GET /_fake/submissions)."""
        return {
            "id": self.id,
            "model_id": self.model_id,
            "trigger_id": self.trigger_id,
            "round": self.round,
            "rows": self.rows,
            "filename": self.filename,
            "inserted_at": self.inserted_at,
        }


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    graphql_op: str | None  # the root field of a GraphQL POST, e.g. "create_submission"
    range: str | None  # the Range header, as sent
    status: int
    body_bytes_sent: int


@dataclass
class BodySend:
    """A file body being sent, until we know whether the client read it.

    numerapi's download first sends a GET just to read Content-Length and then drops
    it without reading the body (when the file is already complete, or to resume with
    a Range request). The server writes the body either way, so "written" is not
    "downloaded". Linux answers a close with unread data in the receive buffer (or
    data arriving after the close) with a TCP reset, so the connection's next event
    tells them apart: a reset → the client discarded the body; a clean EOF or a
    further request → it read it. Exact for bodies larger than the client's 8 KiB read
    buffer (every parquet file); best effort for tiny ones (features.json), which can
    reach the client's user-space buffer whole before it decides to drop them.
    """

    path: str
    fate: str = "pending"  # "pending" | "read" | "discarded" | "incomplete"
