"""The base of the Google API fakes (Cloud Run, Secret Manager): stdlib only.

``server`` holds ``GoogleApiFake`` (the HTTP server, proxy-style requests, scripted
faults, the request log); ``messages`` what it receives and answers.
"""

from fakes.googleapi.messages import (
    GOOGLE_STATUS,
    Request,
    RequestRecord,
    Response,
    google_error,
    rfc3339,
)
from fakes.googleapi.server import FAKE_DOMAIN, LOOPBACK_HOSTS, GoogleApiFake

__all__ = [
    "FAKE_DOMAIN",
    "GOOGLE_STATUS",
    "LOOPBACK_HOSTS",
    "GoogleApiFake",
    "Request",
    "RequestRecord",
    "Response",
    "google_error",
    "rfc3339",
]
