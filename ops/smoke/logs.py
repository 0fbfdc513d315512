"""Smoke stage 3: print the execution's log entries from Cloud Logging."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from common.contract import LABEL_MODEL_ID, SUMMARY_EVENTS
from common.registry import ModelEntry, Registry
from ops import observe
from ops.gcloud import Gcloud
from ops.settings import OpsSettings
from ops.smoke.stage import Say, SmokeFailed

# Cloud Logging shows entries seconds (rarely a minute) after they are written.
LOG_READ_ATTEMPTS = 6


def _summary(entries: list[dict[str, Any]], model_id: str) -> dict[str, Any] | None:
    """The payload of the model's summary line (docs/reference.md "Job logs"), if logged."""
    for entry in entries:
        payload = entry.get("jsonPayload")
        labels = entry.get("labels") or {}
        if (
            isinstance(payload, dict)
            and payload.get("event") in SUMMARY_EVENTS
            and labels.get(LABEL_MODEL_ID) == model_id
        ):
            return payload
    return None


def read_logs(
    s: OpsSettings,
    g: Gcloud,
    execution: str,
    since: dt.datetime,
    model: ModelEntry,
    registry: Registry,
    *,
    poll: float,
    say: Say,
) -> dict[str, Any] | None:
    """Print the execution's log entries; the model's summary payload, if logged."""
    selector = observe.log_filter(execution, [], observe.log_time(since - observe.CLOCK_SKEW))
    args = observe.log_read_args(s, selector, observe.DEFAULT_LOG_LIMIT)
    entries: list[dict[str, Any]] = []
    for attempt in range(LOG_READ_ATTEMPTS):
        if attempt:
            time.sleep(poll)
        found = g.read_json(args)
        if not isinstance(found, list):
            raise SmokeFailed("logs", "gcloud logging read: expected a JSON list")
        entries = found
        if _summary(entries, model.id) is not None:
            break
    if not entries:
        raise SmokeFailed(
            "logs",
            f"no log entries for {execution} after {LOG_READ_ATTEMPTS} reads: is the job "
            "writing to stdout, and may this account read logs (roles/logging.viewer)?",
        )
    say(f"logs of {execution} ({len(entries)} entries):")
    for entry in entries:
        say("  " + observe.render_entry(entry, registry))
    return _summary(entries, model.id)
