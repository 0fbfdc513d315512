"""Smoke stage 1: send Numerai's test webhook to the deployed dispatcher."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from common.contract import WEBHOOK_TOKEN_SECRET
from common.redact import scrub
from ops.deployed import describe_service_url
from ops.gcloud import HIDDEN, Gcloud
from ops.settings import OpsSettings
from ops.smoke.stage import SmokeFailed

# The dispatcher answers within its 7 s launch budget plus a cold start of a few seconds.
WEBHOOK_TIMEOUT_SECONDS = 30.0
SMOKE_TRIGGER_PREFIX = "smoke-"
# Numerai's test webhook body (docs/reference.md, the webhook); the trigger is added per run.
TEST_WEBHOOK = {"roundNumber": "test", "dataVersion": 1, "isTest": True}
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Hints for the dispatcher's refusals that a deployment step fixes.
_REFUSAL_HINTS = {
    401: f" (the dispatcher accepts none of the versions of secret {WEBHOOK_TOKEN_SECRET} "
    "it should: `make release`, or `make rotate-token`)",
    404: " (the deployed registry lacks this model: `make release`)",
}


def service_url(s: OpsSettings, g: Gcloud, environ: Mapping[str, str]) -> str | None:
    """DISPATCHER_URL, else the deployed service's URL; None in a dry run."""
    url = environ.get("DISPATCHER_URL", "").strip()
    if not url:
        url = describe_service_url(g, s) or ""
        if g.dry_run:
            return None
    parts = urllib.parse.urlsplit(url)
    # The token travels in the query string: plain http only to this machine.
    if not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)):
        raise SmokeFailed(
            "webhook",
            f"dispatcher URL {url!r} is not https (run `make release` first, or set "
            "DISPATCHER_URL)",
        )
    return url.rstrip("/")


def send_webhook(url: str, body: Mapping[str, Any], token: str) -> dict[str, Any]:
    """POST the test webhook; the dispatcher's 202 (or 200 for a repeat) body."""
    request = urllib.request.Request(  # noqa: S310 - https, or http to loopback only
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as resp:  # noqa: S310
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        reason = scrub(f"cannot reach the dispatcher: {reason}", [token], mask=HIDDEN)
        raise SmokeFailed("webhook", reason) from None
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        answer = {"error": raw[:200].decode(errors="replace")}
    if status not in (200, 202):
        hint = _REFUSAL_HINTS.get(status, "")
        error = answer.get("error", answer) if isinstance(answer, dict) else answer
        reason = scrub(f"dispatcher answered {status}: {error}{hint}", [token], mask=HIDDEN)
        raise SmokeFailed("webhook", reason)
    if not isinstance(answer, dict) or not answer.get("execution_name"):
        raise SmokeFailed("webhook", f"dispatcher answered {status} without an execution: {answer}")
    return answer
