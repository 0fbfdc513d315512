"""The fake Numerai's state: its data, accounts, uploads, submissions and request log.

``NumeraiState`` holds everything the GraphQL resolvers (``api.py``) and the HTTP
handler (``http_server.py``) share, behind one lock: handler threads answer requests
concurrently. Underscored methods are for those two, not for tests.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fakes.numerai.faults import Faults
from fakes.numerai.graphql import GraphQLError
from fakes.numerai.records import BodySend, RequestRecord, Submission
from fakes.synthetic import FILENAMES, LIVE, SyntheticSpec, write_dataset

# file_gets() waits at most this long for clients to finish or drop the bodies it counts.
BODY_SETTLE_SECONDS = 2.0


class NumeraiState:
    """Constructing it writes (or reuses) the synthetic dataset in ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        spec: SyntheticSpec = SyntheticSpec(),  # noqa: B008 - frozen, immutable default
        current_round: int = 842,
        public_id: str = "FAKEPUBLICID",
        secret_key: str = "FAKESECRETKEY",  # noqa: S107 - a fake key for a fake server
        port: int = 0,
        models: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.spec = spec
        self.current_round = current_round
        self.port = port
        self.models: dict[str, str] = {name: mid.lower() for name, mid in (models or {}).items()}
        self._token = f"Token {public_id}${secret_key}".encode()
        self.faults = Faults()
        self.webhooks: dict[str, str] = {}
        # False plays an API whose Submission type has no triggerId field: asking for it
        # is a GraphQL error (make smoke then checks by time instead).
        self.expose_trigger_ids = True
        self.url = ""
        self.started_at = dt.datetime.now(dt.UTC).replace(microsecond=0)

        self._files = write_dataset(spec, self.data_dir)
        self._live_ids = _read_ids(self._files[LIVE])
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._requests: list[RequestRecord] = []
        self._submissions: list[Submission] = []
        self._uploads: dict[str, dict[str, Any]] = {}  # token -> upload state
        self._bodies: list[BodySend] = []
        self._stopping = threading.Event()

    # -- what tests inspect -----------------------------------------------------------

    @property
    def submissions(self) -> list[Submission]:
        with self._lock:
            return list(self._submissions)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def file_gets(self, name: str, *, settle: float = BODY_SETTLE_SECONDS) -> int:
        """How many GETs delivered the body of file ``name`` (e.g. "live.parquet").

        A GET whose body the client dropped unread (numerapi's size check of a file it
        already has) does not count, nor does a truncated one. Waits up to ``settle``
        seconds for clients still holding a connection to read or drop it; one still
        undecided then counts. See ``BodySend`` for how (and its limit on tiny files).
        """
        suffix = "/" + name.lstrip("/")

        def pending() -> bool:
            return any(b.fate == "pending" and b.path.endswith(suffix) for b in self._bodies)

        with self._settled:
            self._settled.wait_for(lambda: not pending(), timeout=settle)
            return sum(
                b.fate in ("read", "pending") and b.path.endswith(suffix) for b in self._bodies
            )

    def dataset_names(self) -> list[str]:
        return sorted(f"{self.spec.data_version}/{name}" for name in FILENAMES)

    # -- bookkeeping (handler threads) ------------------------------------------------

    def _record(self, record: RequestRecord) -> int:
        """Log a request *before* its response is written (a client that has its answer
        finds it logged); returns the index for a later ``_amend``."""
        with self._lock:
            self._requests.append(record)
            return len(self._requests) - 1

    def _amend(self, index: int, **changes: Any) -> None:
        with self._lock:
            self._requests[index] = dataclasses.replace(self._requests[index], **changes)

    def _body_started(self, path: str) -> BodySend:
        body = BodySend(path)
        with self._lock:
            self._bodies.append(body)
        return body

    def _body_fate(self, body: BodySend, fate: str) -> None:
        with self._settled:
            if body.fate == "pending":
                body.fate = fate
            self._settled.notify_all()

    # -- uploads and files (handler threads) ----------------------------------------

    def _store_upload(self, token: str, data: bytes) -> bool:
        with self._lock:
            upload = self._uploads.get(token)
            if upload is None:
                return False
            upload["data"] = data
            return True

    def _file_path(self, url_path: str) -> Path | None:
        """The local file behind /files/<round>/<version>/<name>, or None."""
        match = re.fullmatch(r"/files/(\d+)/([^/]+)/([^/]+)", url_path)
        if match is None:
            return None
        round_number, version, name = int(match[1]), match[2], match[3]
        if version != self.spec.data_version or name not in FILENAMES:
            return None
        if not 0 < round_number <= self.current_round:
            return None
        return self._files[name]

    def _find_submission(self, submission_id: Any) -> Submission:
        with self._lock:
            for sub in self._submissions:
                if sub.id == submission_id:
                    return sub
        raise GraphQLError(f"submission {submission_id!r} not found")


def _read_ids(path: Path) -> frozenset[str]:
    import pyarrow.parquet as pq

    return frozenset(pq.read_table(path, columns=["id"]).column("id").to_pylist())
