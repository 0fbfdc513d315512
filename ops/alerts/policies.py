"""What ``make alerts`` wants to exist: the e-mail channels and the two alert policies,
as the JSON Cloud Monitoring's API takes (``projects.alertPolicies``), and how a listed
resource is recognised as ours and compared with what is wanted."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from common.contract import (
    EVENT_FAILED,
    FIELD_EVENT,
    FIELD_REASON,
    LABEL_EXECUTION,
    LABEL_MODEL_NAME,
    LABEL_ROUND,
)
from ops.settings import ConfigError, OpsSettings

MONITORING_API = "monitoring.googleapis.com"
# gcloud 528 has alert policies in alpha only, notification channels in alpha and beta.
POLICIES = ("alpha", "monitoring", "policies")
CHANNELS = ("beta", "monitoring", "channels")
# The user label on everything `make alerts` creates; its value says which piece it is.
LABEL_KEY = "numerai-cloudrun"
EMAIL_CHANNEL = "email"
MODEL_FAILED = "model-failed"
EXECUTION_FAILED = "execution-failed"
# Log-match policies must limit notifications; 5 minutes is the smallest period allowed.
RATE_LIMIT = "300s"
# An incident with no new matching entry for this long closes itself (30 min: the least).
AUTO_CLOSE = "1800s"
# Where Cloud Run records that an execution failed: its audit log of system events
# ("Execution J-x has failed to complete, …" in protoPayload.status.message); and its
# system log of the job's tasks (textPayload at ERROR: out of memory, a task's failure).
SYSTEM_EVENT_LOG = "cloudaudit.googleapis.com/system_event"
SYSTEM_LOG = "run.googleapis.com/varlog/system"
# Cloud Monitoring's documentation variable for a label a log-match condition extracted.
_VAR = "${{log.extracted_label.{}}}"
# An address as Cloud Monitoring's e-mail channel takes it (one, no display name).
_EMAIL = re.compile(r"^[^@\s,\"<>]+@[^@\s,\"<>]+\.[A-Za-z]{2,}$")


def parse_emails(value: str | None) -> list[str]:
    """EMAIL: one address or a comma list; each once, in order."""
    emails = [e.strip() for e in (value or "").split(",") if e.strip()]
    if not emails:
        raise ConfigError("EMAIL is not set: pass EMAIL=you@example.com (a comma list for more)")
    for email in emails:
        if not _EMAIL.match(email):
            raise ConfigError(f"EMAIL: {email!r} is not an e-mail address")
    return list(dict.fromkeys(emails))


def _jobs_clause(jobs: Sequence[str]) -> str:
    return "(" + " OR ".join(f'resource.labels.job_name="{j}"' for j in jobs) + ")"


def model_failed_filter(jobs: Sequence[str]) -> str:
    """The job's summary lines that say a model failed."""
    return (
        f'resource.type="cloud_run_job" AND {_jobs_clause(jobs)} AND '
        f'jsonPayload.{FIELD_EVENT}="{EVENT_FAILED}"'
    )


def execution_failed_filter(project: str, jobs: Sequence[str]) -> str:
    """Cloud Run's own records (not the job's) of a failed execution of those jobs."""
    logs = " OR ".join(
        f'logName="projects/{project}/logs/{quote(log, safe="")}"'
        for log in (SYSTEM_EVENT_LOG, SYSTEM_LOG)
    )
    return (
        f'resource.type="cloud_run_job" AND {_jobs_clause(jobs)} AND ({logs}) AND '
        "severity>=ERROR"
    )


def _model_failed(jobs: Sequence[str]) -> tuple[str, dict[str, Any]]:
    model, round_, reason = _VAR.format("model"), _VAR.format("round"), _VAR.format("reason")
    content = (
        f"Model **{model}** failed in round {round_} (execution "
        f"{_VAR.format('execution')}).\n\nReason: {reason}\n\n"
        "Every model of the round: `make report`. This model's log lines: "
        f"`make logs MODEL={model}`. What each reason means and what to do: the "
        '"every week" page of numerai-cloudrun (docs/weekly.md). Once fixed, '
        f"`make rerun MODEL={model}` submits, if the round is still open."
    )
    condition = {
        "displayName": "a model's summary line says failed",
        "conditionMatchedLog": {
            "filter": model_failed_filter(jobs),
            "labelExtractors": {
                "model": f"EXTRACT(labels.{LABEL_MODEL_NAME})",
                "round": f"EXTRACT(labels.{LABEL_ROUND})",
                "execution": f"EXTRACT(labels.{LABEL_EXECUTION})",
                "reason": f"EXTRACT(jsonPayload.{FIELD_REASON})",
            },
        },
    }
    subject = f"numerai-cloudrun: model {model} failed in round {round_}"
    return "numerai-cloudrun: a model failed", {
        "condition": condition,
        "subject": subject,
        "content": content,
    }


def _execution_failed(project: str, jobs: Sequence[str]) -> tuple[str, dict[str, Any]]:
    job, message = _VAR.format("job"), _VAR.format("message") + _VAR.format("text")
    content = (
        f"Cloud Run: {message}\n\nAn execution of job {job} failed: a model failed (its own "
        "alert says why), or the execution crashed, ran out of memory or time before it "
        "could say. Which models submitted: `make report`. The executions: `make status`; "
        "their log lines: `make logs EXECUTION=<name>`."
    )
    condition = {
        "displayName": "Cloud Run recorded a failed execution",
        "conditionMatchedLog": {
            "filter": execution_failed_filter(project, jobs),
            "labelExtractors": {
                "job": "EXTRACT(resource.labels.job_name)",
                # One of the two is there: the audit entry's message, the system log's text.
                "message": "EXTRACT(protoPayload.status.message)",
                "text": "EXTRACT(textPayload)",
            },
        },
    }
    subject = f"numerai-cloudrun: an execution of {job} failed"
    return "numerai-cloudrun: an execution failed", {
        "condition": condition,
        "subject": subject,
        "content": content,
    }


def wanted_policies(
    s: OpsSettings, jobs: Sequence[str], channels: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """kind → the alert policy JSON, notifying ``channels`` (resource names)."""
    made = {
        MODEL_FAILED: _model_failed(jobs),
        EXECUTION_FAILED: _execution_failed(s.project, jobs),
    }
    return {
        kind: {
            "displayName": name,
            "userLabels": {LABEL_KEY: kind},
            "combiner": "OR",
            "conditions": [parts["condition"]],
            "alertStrategy": {
                "notificationRateLimit": {"period": RATE_LIMIT},
                "autoClose": AUTO_CLOSE,
            },
            "documentation": {
                "mimeType": "text/markdown",
                "subject": parts["subject"],
                "content": parts["content"],
            },
            "notificationChannels": sorted(channels),
            "enabled": True,
        }
        for kind, (name, parts) in made.items()
    }


def ours(listed: Any, kinds: Sequence[str]) -> list[Mapping[str, Any]]:
    """The listed resources (channels or policies) `make alerts` made, of those kinds."""
    if not isinstance(listed, list):
        return []
    return [
        item
        for item in listed
        if isinstance(item, dict) and (item.get("userLabels") or {}).get(LABEL_KEY) in kinds
    ]


def same(wanted: Any, found: Any) -> bool:
    """True if ``found`` (a listed resource) has every field of ``wanted`` with the same
    value; fields the API adds (names, mutation records) do not count."""
    if isinstance(wanted, dict):
        return isinstance(found, dict) and all(same(v, found.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (
            isinstance(found, list)
            and len(wanted) == len(found)
            and all(same(w, f) for w, f in zip(wanted, found, strict=True))
        )
    return wanted == found
