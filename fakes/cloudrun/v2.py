"""Cloud Run Admin API v2, as google-cloud-run's ``JobsClient``/``ExecutionsClient``
speak it over REST: jobs (get, ``:run``), executions (get, list, ``:cancel``) and the
long-running operations ``:run`` and ``:cancel`` return."""

from __future__ import annotations

import time
from typing import Any

from fakes.cloudrun.records import (
    CANCELLED_MESSAGE,
    DEFAULT_IMAGE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TASK_TIMEOUT,
    SUCCEEDED_MESSAGE,
    Execution,
    Operation,
    container_env,
    failed_message,
    job_uid,
    log_uri,
)
from fakes.cloudrun.state import CloudRunState
from fakes.googleapi import Request, Response, google_error, rfc3339

EXECUTION_TYPE_URL = "type.googleapis.com/google.cloud.run.v2.Execution"
# Failed operations carry google.rpc.Code UNKNOWN (2): the fake's choice, the API does
# not document which code a failed execution's operation ends with.
FAILED_OPERATION_CODE = 2


class V2Api(CloudRunState):
    """The v2 routes (``/v2/projects/P/locations/L/...``)."""

    def _handle_v2(self, request: Request, seg: list[str]) -> Response:
        # seg: v2 projects P locations L <rest...>
        if len(seg) < 6 or seg[1] != "projects" or seg[3] != "locations":
            return Response(404, google_error(404, f"fake: no route for {request.path}"))
        project, region, rest = seg[2], seg[4], seg[5:]
        method = request.method
        if rest[0] == "jobs" and len(rest) == 2:
            job, _, verb = rest[1].partition(":")
            if method == "POST" and verb == "run":
                return self._v2_run(request, project, region, job)
            if method == "GET" and not verb:
                return self._v2_get_job(project, region, job)
        if rest[0] == "jobs" and len(rest) >= 3 and rest[2] == "executions":
            job = rest[1]
            if not self._has_job(project, region, job):
                return self._job_not_found(project, region, job)
            if method == "GET" and len(rest) == 3:
                return self._v2_list_executions(request, project, region, job)
            if len(rest) == 4:
                short, _, verb = rest[3].partition(":")
                name = f"projects/{project}/locations/{region}/jobs/{job}/executions/{short}"
                if method == "GET" and not verb:
                    return self._v2_get_execution(name)
                if method == "POST" and verb == "cancel":
                    return self._v2_cancel_execution(name)
        if rest[0] == "operations" and len(rest) == 2 and method == "GET":
            name = f"projects/{project}/locations/{region}/operations/{rest[1]}"
            return self._v2_get_operation(name)
        return Response(404, google_error(404, f"fake: no route for {method} {request.path}"))

    def _v2_run(self, request: Request, project: str, region: str, job: str) -> Response:
        refused = self._admit_run(project, region, job)
        if refused is not None:
            return refused
        body = request.json()
        overrides = body.get("overrides") or {}
        execution = self._new_execution(project, region, job, overrides, self._creator(request))
        operation = self._new_operation(execution)
        self._record_run("v2", execution, body, overrides)
        fault = self._after_run_fault()
        if fault is not None:
            return fault
        return Response(200, self._v2_operation_json(operation))

    def _v2_get_job(self, project: str, region: str, job: str) -> Response:
        if not self._has_job(project, region, job):
            return self._job_not_found(project, region, job)
        with self._lock:
            mine = [e for e in self._executions.values() if e.job == job]
        latest = max(mine, key=lambda e: e.created) if mine else None
        payload: dict[str, Any] = {
            "name": f"projects/{project}/locations/{region}/jobs/{job}",
            "uid": job_uid(project, region, job),
            "generation": "1",
            "createTime": rfc3339(self._created),
            "launchStage": "GA",
            "template": self._v2_template(1, DEFAULT_TASK_TIMEOUT, {}),
            "observedGeneration": "1",
            "terminalCondition": {"type": "Ready", "state": "CONDITION_SUCCEEDED"},
            "executionCount": len(mine),
        }
        if latest is not None:
            payload["latestCreatedExecution"] = {
                "name": latest.name,
                "createTime": rfc3339(latest.created),
            }
        return Response(200, payload)

    def _v2_template(self, task_count: int, timeout: str, env: dict[str, str]) -> dict:
        return {
            "taskCount": task_count,
            "parallelism": task_count,
            "template": {
                "containers": [
                    {
                        "image": DEFAULT_IMAGE.format(project=self.project),
                        "env": container_env(self.job_env, env),
                    }
                ],
                "timeout": timeout,
                "maxRetries": DEFAULT_MAX_RETRIES,
            },
        }

    def _v2_execution_json(self, execution: Execution) -> dict[str, Any]:
        outcome, completed = self._state(execution)
        created = rfc3339(execution.created)
        tasks = execution.task_count
        payload: dict[str, Any] = {
            "name": execution.name,
            "uid": execution.uid,
            "generation": "1",
            "createTime": created,
            "creator": execution.creator,
            "startTime": created,
            "updateTime": rfc3339(completed or execution.created),
            "launchStage": "GA",
            "job": execution.job,
            "parallelism": tasks,
            "taskCount": tasks,
            "template": self._v2_template(tasks, execution.timeout, execution.env)["template"],
            "reconciling": outcome is None,
            "observedGeneration": "1",
            "runningCount": tasks if outcome is None else 0,
            "succeededCount": tasks if outcome == "succeeded" else 0,
            "failedCount": tasks if outcome == "failed" else 0,
            "cancelledCount": tasks if outcome == "cancelled" else 0,
            "logUri": log_uri(execution),
            "etag": f'"{execution.uid[:8]}"',
        }
        if outcome is not None:
            payload["completionTime"] = rfc3339(completed or execution.created)
        payload["conditions"] = _v2_conditions(execution, outcome, payload.get("completionTime"))
        return payload

    def _v2_operation_json(self, operation: Operation) -> dict[str, Any]:
        with self._lock:
            execution = self._executions[operation.execution]
        body = self._v2_execution_json(execution)
        payload: dict[str, Any] = {
            "name": operation.name,
            "metadata": {"@type": EXECUTION_TYPE_URL, **body},
            "done": "completionTime" in body,
        }
        if payload["done"]:
            outcome, _ = self._state(execution)
            if outcome == "succeeded":
                payload["response"] = {"@type": EXECUTION_TYPE_URL, **body}
            else:
                message = body["conditions"][0].get("message", outcome)
                payload["error"] = {"code": FAILED_OPERATION_CODE, "message": message}
        return payload

    def _v2_get_execution(self, name: str) -> Response:
        with self._lock:
            execution = self._executions.get(name)
        if execution is None:
            return Response(404, google_error(404, f"Execution '{name}' does not exist."))
        return Response(200, self._v2_execution_json(execution))

    def _v2_list_executions(
        self, request: Request, project: str, region: str, job: str
    ) -> Response:
        fault = self._listing_fault()
        if fault is not None:
            return fault
        with self._lock:
            mine = [
                e
                for e in self._executions.values()
                if (e.project, e.region, e.job) == (project, region, job)
            ]
        mine.sort(key=lambda e: e.created, reverse=True)  # newest first, like the API
        start = int((request.query.get("pageToken") or ["0"])[0] or 0)
        size = int((request.query.get("pageSize") or ["0"])[0] or 0) or len(mine) or 1
        page = mine[start : start + size]
        payload: dict[str, Any] = {"executions": [self._v2_execution_json(e) for e in page]}
        if start + size < len(mine):
            payload["nextPageToken"] = str(start + size)
        return Response(200, payload)

    def _v2_cancel_execution(self, name: str) -> Response:
        with self._lock:
            execution = self._executions.get(name)
        if execution is None:
            return Response(404, google_error(404, f"Execution '{name}' does not exist."))
        outcome, _ = self._state(execution)
        if outcome is None:
            with self._lock:
                execution.outcome = "cancelled"
                execution.finished = time.time()
        operation = self._new_operation(execution)
        return Response(200, self._v2_operation_json(operation))

    def _v2_get_operation(self, name: str) -> Response:
        with self._lock:
            operation = self._operations.get(name)
        if operation is None:
            return Response(404, google_error(404, f"Operation '{name}' does not exist."))
        return Response(200, self._v2_operation_json(operation))


def _v2_conditions(
    execution: Execution, outcome: str | None, completion_time: str | None
) -> list[dict[str, Any]]:
    """An execution's conditions, ``Completed`` first (what clients read for the outcome)."""
    created = rfc3339(execution.created)
    ready = {"state": "CONDITION_SUCCEEDED", "lastTransitionTime": created}
    completed: dict[str, Any]
    if outcome is None:
        completed = {
            "type": "Completed",
            "state": "CONDITION_RECONCILING",
            "lastTransitionTime": created,
        }
    else:
        completed = {"type": "Completed", "lastTransitionTime": completion_time}
        if outcome == "succeeded":
            completed["state"] = "CONDITION_SUCCEEDED"
            completed["message"] = SUCCEEDED_MESSAGE
        elif outcome == "failed":
            completed["state"] = "CONDITION_FAILED"
            completed["executionReason"] = "NON_ZERO_EXIT_CODE"
            completed["message"] = failed_message(execution)
        else:
            completed["state"] = "CONDITION_FAILED"
            completed["executionReason"] = "CANCELLED"
            completed["message"] = CANCELLED_MESSAGE
    return [
        completed,
        {"type": "ResourcesAvailable", **ready},
        {"type": "Started", **ready},
    ]
