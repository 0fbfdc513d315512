"""Wire-level fake of the Secret Manager v1 REST API (secret access only).

The real client talks to it unchanged::

    secretmanager.SecretManagerServiceClient(
        transport="rest", credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.url},
    ).access_secret_version(name="projects/P/secrets/S/versions/latest")

Each secret has one version, ``1``; ``latest`` resolves to it. Answers carry the
payload's CRC32C the way the API does, so a caller's integrity check is exercised.
(google_crc32c is not in the lock file, so the fake computes CRC32C itself.)
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from fakes.googleapi import GoogleApiFake, Request, Response, google_error

# The only version each fake secret has; "latest" is an alias for it.
SECRET_VERSION = "1"

# CRC-32C (Castagnoli), reflected polynomial: the checksum Secret Manager reports.
CRC32C_POLYNOMIAL = 0x82F63B78


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ CRC32C_POLYNOMIAL if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (secrets are tiny: a table-driven loop is plenty)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class FakeSecretManager(GoogleApiFake):
    """Serves ``GET /v1/projects/P/secrets/S/versions/{latest|1}:access``."""

    def __init__(
        self,
        secrets: Mapping[str, str] | None = None,
        *,
        project: str = "test-project",
        project_number: str | None = None,
        port: int = 0,
        verbose: bool = False,
    ) -> None:
        super().__init__(port=port, verbose=verbose)
        self.project = project
        # The real API answers with the project *number* in resource names; tests that
        # care pass one. Requests may name the project by id or by number.
        self.project_number = project_number
        self.secrets: dict[str, str] = dict(secrets or {})
        self._denied: set[str] = set()

    def deny(self, secret_name: str) -> None:
        """Accessing this secret answers 403, as for a caller without secretAccessor."""
        with self._lock:
            self._denied.add(secret_name)

    def _handle(self, request: Request) -> Response:
        # v1/projects/P[/locations/L]/secrets/S/versions/V:access
        seg = request.path.strip("/").split("/")
        if len(seg) == 9 and seg[3] == "locations":
            seg = seg[:3] + seg[5:]
        last, _, verb = seg[-1].partition(":")
        if (
            request.method != "GET"
            or verb != "access"
            or len(seg) != 7
            or (seg[0], seg[1], seg[3], seg[5]) != ("v1", "projects", "secrets", "versions")
        ):
            return Response(404, google_error(404, f"fake: no route for {request.path}"))
        return self._access(project=seg[2], secret=seg[4], version=last)

    def _access(self, *, project: str, secret: str, version: str) -> Response:
        fault = self._fault()
        if fault is not None:
            return fault
        shown_project = self.project_number or self.project
        resource = f"projects/{shown_project}/secrets/{secret}"
        with self._lock:
            denied = secret in self._denied
            value = self.secrets.get(secret)
        if project not in (self.project, self.project_number) or denied:
            # The real wording; it never says whether the secret exists.
            return Response(
                403,
                google_error(
                    403,
                    f"Permission 'secretmanager.versions.access' denied for resource "
                    f"'projects/{project}/secrets/{secret}/versions/{version}' "
                    "(or it may not exist).",
                ),
            )
        if value is None:
            return Response(
                404, google_error(404, f"Secret [{resource}] not found or has no versions.")
            )
        if version not in ("latest", SECRET_VERSION):
            return Response(
                404, google_error(404, f"Secret Version [{resource}/versions/{version}] not found.")
            )
        data = value.encode()
        return Response(
            200,
            {
                "name": f"{resource}/versions/{SECRET_VERSION}",
                "payload": {
                    "data": base64.b64encode(data).decode("ascii"),
                    # int64 fields are strings in protobuf JSON.
                    "dataCrc32c": str(crc32c(data)),
                },
            },
        )
