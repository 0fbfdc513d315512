"""The fake Numerai's routes: GraphQL, upload PUTs, file and submission downloads."""

from __future__ import annotations

import http
import json
import re
from typing import Any
from urllib.parse import urlsplit

from fakes.numerai.downloads import DownloadHandler
from fakes.numerai.graphql import GraphQLError, root_field_name

# A GraphQL request body larger than this is refused (numerapi's are < 2 KiB).
MAX_GRAPHQL_BODY = 1024 * 1024
# A predictions upload larger than this is refused (a full live CSV is ~250 KB).
MAX_UPLOAD_BODY = 64 * 1024 * 1024


def html_error(status: int) -> bytes:
    """A load balancer's error page, as a real 5xx would carry (not JSON)."""
    phrase = http.HTTPStatus(status).phrase
    return (
        f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {phrase}</h1></center>\r\n</body>\r\n</html>\r\n"
    ).encode()


class Handler(DownloadHandler):
    def _send_json(self, status: int, obj: Any, *, op: str | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), op=op)

    def _read_body(self, limit: int) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._send(411, html_error(411), "text/html")
            return None
        if int(length) > limit:
            self.close_connection = True
            self._send(413, html_error(413), "text/html")
            return None
        return self.rfile.read(int(length))

    # -- routes -----------------------------------------------------------------------

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path != "/":
            self._send(404, html_error(404), "text/html")
            return
        raw = self._read_body(MAX_GRAPHQL_BODY)
        if raw is None:
            return
        try:
            payload = json.loads(raw)
        except ValueError:
            self._send_json(400, {"errors": [{"message": "request body is not JSON"}]})
            return
        op = root_field_name(payload)
        delay = self.fake.faults.take("graphql_delay")
        if delay:
            self.fake._stopping.wait(delay)
        status = self.fake.faults.take(f"graphql_5xx:{op}") if op else None
        if status is None:
            status = self.fake.faults.take("graphql_5xx")
        if status is not None:
            self._send(status, html_error(status), "text/html", op=op)
            return
        result = self.fake.execute(payload, self.headers.get("Authorization"))
        self._send_json(200, result, op=op)

    def do_PUT(self) -> None:
        match = re.fullmatch(r"/uploads/([0-9a-f]{32})", urlsplit(self.path).path)
        if match is None:
            self._send(404, html_error(404), "text/html")
            return
        data = self._read_body(MAX_UPLOAD_BODY)
        if data is None:
            return
        status = self.fake.faults.take("fail_puts")
        if status is not None:
            self._send(status, html_error(status), "text/html")
            return
        if not self.fake._store_upload(match[1], data):
            self._send(404, b"<Error><Code>NoSuchUpload</Code></Error>", "application/xml")
            return
        self._send(200, b"", "text/plain")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/_fake/submissions":
            self._send_json(200, [s.summary() for s in self.fake.submissions])
            return
        sub_match = re.fullmatch(r"/submissions/([0-9a-f-]{36})", path)
        if sub_match:
            try:
                sub = self.fake._find_submission(sub_match[1])
            except GraphQLError:
                self._send(404, html_error(404), "text/html")
                return
            self._send(200, sub.csv, "text/csv")
            return
        file_path = self.fake._file_path(path)
        if file_path is None:
            self._send(404, html_error(404), "text/html")
            return
        self._send_file(file_path)
