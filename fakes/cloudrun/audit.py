"""What Cloud Run itself writes to Cloud Logging about a job, besides the tasks' output.

``execution_failed_entry(...)`` is its record of an execution that failed: a system-event
audit entry at ERROR on the job's resource, which exists even when the job wrote nothing
(a crash, a timeout, a kill). The alert policy "an execution failed" of ``make alerts``
matches it. The shape follows Cloud Run's entries: ``logName``
``projects/P/logs/cloudaudit.googleapis.com%2Fsystem_event``, the ``cloud_run_job``
resource, ``protoPayload`` an AuditLog whose ``status.message`` says which execution
failed and how many of its tasks succeeded. Standard library only.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from fakes.googleapi.messages import rfc3339

# An insertId: the API uses short random strings.
_INSERT_ID_BYTES = 8
# Cloud Run's audit log of system events: where it records an execution that failed.
SYSTEM_EVENT_LOG = "cloudaudit.googleapis.com/system_event"
AUDIT_LOG_TYPE = "type.googleapis.com/google.cloud.audit.AuditLog"
# google.rpc.Code FAILED_PRECONDITION: the status a failed execution's record carries.
FAILED_PRECONDITION = 9


def execution_failed_entry(
    *,
    project: str,
    region: str,
    job: str,
    execution: str,
    succeeded_tasks: int,
    task_count: int,
    epoch: float,
) -> dict[str, Any]:
    """The entry Cloud Run writes when an execution fails (a task's non-zero exit, a
    timeout, a kill)."""
    message = (
        f"Execution {execution} has failed to complete, "
        f"{succeeded_tasks}/{task_count} tasks were a success."
    )
    return {
        "insertId": secrets.token_hex(_INSERT_ID_BYTES),
        "logName": f"projects/{project}/logs/" + quote(SYSTEM_EVENT_LOG, safe=""),
        "resource": {
            "type": "cloud_run_job",
            "labels": {"project_id": project, "job_name": job, "location": region},
        },
        "timestamp": rfc3339(epoch),
        "receiveTimestamp": rfc3339(epoch),
        "severity": "ERROR",
        "protoPayload": {
            "@type": AUDIT_LOG_TYPE,
            "status": {"code": FAILED_PRECONDITION, "message": message},
            "serviceName": "run.googleapis.com",
            "resourceName": f"namespaces/{project}/executions/{execution}",
        },
    }
