"""Cloud Run Admin API v1 (Knative-shaped), what ``gcloud run jobs execute`` speaks:
jobs (get, ``:run``) and executions (get), under ``/apis/run.googleapis.com/v1``.

gcloud reaches the fake as its HTTP proxy (see ``fakes/gcloud.py``): v1 paths carry no
region, so it comes from the regional host gcloud picked (``R-run.fake.test``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fakes.cloudrun.records import (
    CANCELLED_MESSAGE,
    CREATOR_ANNOTATION,
    DEFAULT_IMAGE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TASK_TIMEOUT,
    SUCCEEDED_MESSAGE,
    Execution,
    container_env,
    failed_message,
    job_uid,
    log_uri,
)
from fakes.cloudrun.state import CloudRunState
from fakes.googleapi import FAKE_DOMAIN, Request, Response, google_error, rfc3339

V1_API_VERSION = "run.googleapis.com/v1"
V1_PREFIX = "/apis/run.googleapis.com/v1"
# The label v1 executions carry their job in (and gcloud selects them by).
JOB_LABEL = "run.googleapis.com/job"


class V1Api(CloudRunState):
    """The v1 routes (``/apis/run.googleapis.com/v1/namespaces/N/...``)."""

    def _handle_v1(self, request: Request, seg: list[str]) -> Response:
        # seg: namespaces N (jobs|executions) NAME[:verb]
        if len(seg) == 3:
            return self._handle_v1_list(request, seg)
        if len(seg) != 4 or seg[0] != "namespaces":
            return Response(404, google_error(404, f"fake: no route for {request.path}"))
        namespace, kind = seg[1], seg[2]
        name, _, verb = seg[3].partition(":")
        # v1 paths carry no region: gcloud picks the regional host (R-run.fake.test).
        region = self._region_from_host(request.host)
        project = self.project if namespace in (self.project, self.project_number) else namespace
        if kind == "jobs":
            if request.method == "GET" and not verb:
                return self._v1_get_job(project, region, name)
            if request.method == "POST" and verb == "run":
                return self._v1_run(request, project, region, name)
        if kind == "executions" and request.method == "GET" and not verb:
            return self._v1_get_execution(project, region, name)
        return Response(
            404, google_error(404, f"fake: no route for {request.method} {request.path}")
        )

    def _handle_v1_list(self, request: Request, seg: list[str]) -> Response:
        """``gcloud run jobs executions list [--job=J]``: the namespace's executions,
        newest first, filtered by the ``run.googleapis.com/job=J`` label selector, in
        pages of ``limit`` (``metadata.continue`` names the next)."""
        if seg[0] != "namespaces" or seg[2] != "executions" or request.method != "GET":
            return Response(
                404, google_error(404, f"fake: no route for {request.method} {request.path}")
            )
        region = self._region_from_host(request.host)
        project = self.project if seg[1] in (self.project, self.project_number) else seg[1]
        # gcloud writes "run.googleapis.com/job = J" (spaces around the "=").
        selector = {
            key.strip(): value.strip()
            for key, _, value in (
                item.partition("=")
                for item in (request.query.get("labelSelector") or [""])[0].split(",")
                if "=" in item
            )
        }
        if set(selector) - {JOB_LABEL}:
            return Response(
                400, google_error(400, f"fake: label selector {selector} not understood")
            )
        with self._lock:
            mine = [
                e
                for e in self._executions.values()
                if (e.project, e.region) == (project, region)
                and selector.get(JOB_LABEL, e.job) == e.job
            ]
        mine.sort(key=lambda e: e.created, reverse=True)
        start = int((request.query.get("continue") or ["0"])[0] or 0)
        size = int((request.query.get("limit") or ["0"])[0] or 0) or len(mine) or 1
        page = mine[start : start + size]
        metadata = {"continue": str(start + size)} if start + size < len(mine) else {}
        return Response(
            200,
            {
                "apiVersion": V1_API_VERSION,
                "kind": "ExecutionList",
                "metadata": metadata,
                "items": [self._v1_execution_json(e) for e in page],
            },
        )

    def _region_from_host(self, host: str) -> str:
        name = host.rpartition(":")[0] if ":" in host else host
        suffix = f"-run.{FAKE_DOMAIN}"
        return name[: -len(suffix)] if name.endswith(suffix) else self.region

    @property
    def _namespace(self) -> str:
        return self.project_number or self.project

    def _v1_containers(self, env: Mapping[str, str]) -> list[dict[str, Any]]:
        return [
            {
                "image": DEFAULT_IMAGE.format(project=self.project),
                "env": container_env(self.job_env, env),
                "resources": {"limits": {"cpu": "1000m", "memory": "512Mi"}},
            }
        ]

    def _v1_get_job(self, project: str, region: str, job: str) -> Response:
        if not self._has_job(project, region, job):
            return self._job_not_found(project, region, job)
        with self._lock:
            mine = [e for e in self._executions.values() if e.job == job]
        status: dict[str, Any] = {
            "observedGeneration": 1,
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(self._created)}
            ],
            "executionCount": len(mine),
        }
        if mine:
            latest = max(mine, key=lambda e: e.created)
            status["latestCreatedExecution"] = {
                "name": latest.short,
                "creationTimestamp": rfc3339(latest.created),
            }
        return Response(
            200,
            {
                "apiVersion": V1_API_VERSION,
                "kind": "Job",
                "metadata": {
                    "name": job,
                    "namespace": self._namespace,
                    "selfLink": f"{V1_PREFIX}/namespaces/{self._namespace}/jobs/{job}",
                    "uid": job_uid(project, region, job),
                    "resourceVersion": "AAAAAAAAAAE",
                    "generation": 1,
                    "creationTimestamp": rfc3339(self._created),
                    "labels": {"cloud.googleapis.com/location": region},
                    "annotations": {"run.googleapis.com/launch-stage": "GA"},
                },
                "spec": {
                    "template": {
                        "metadata": {"annotations": {}},
                        "spec": {
                            "taskCount": 1,
                            "template": {
                                "spec": {
                                    "containers": self._v1_containers({}),
                                    "maxRetries": DEFAULT_MAX_RETRIES,
                                    "timeoutSeconds": DEFAULT_TASK_TIMEOUT.rstrip("s"),
                                }
                            },
                        },
                    }
                },
                "status": status,
            },
        )

    def _v1_run(self, request: Request, project: str, region: str, job: str) -> Response:
        refused = self._admit_run(project, region, job)
        if refused is not None:
            return refused
        body = request.json()
        v1_overrides = body.get("overrides") or {}
        # v1 says timeoutSeconds (an int); record it the v2 way ("600s").
        overrides = dict(v1_overrides)
        if v1_overrides.get("timeoutSeconds") is not None:
            overrides["timeout"] = f"{v1_overrides['timeoutSeconds']}s"
        execution = self._new_execution(project, region, job, overrides, self._creator(request))
        self._record_run("v1", execution, body, overrides)
        return Response(200, self._v1_execution_json(execution))

    def _v1_get_execution(self, project: str, region: str, short: str) -> Response:
        with self._lock:
            found = [
                e
                for e in self._executions.values()
                if (e.project, e.region, e.short) == (project, region, short)
            ]
        if not found:
            return Response(
                404,
                google_error(
                    404,
                    f"Resource '{short}' of kind 'EXECUTION' in region '{region}' "
                    f"in project '{project}' does not exist.",
                ),
            )
        return Response(200, self._v1_execution_json(found[0]))

    def _v1_execution_json(self, execution: Execution) -> dict[str, Any]:
        tasks = execution.task_count
        return {
            "apiVersion": V1_API_VERSION,
            "kind": "Execution",
            "metadata": {
                "name": execution.short,
                "namespace": self._namespace,
                "selfLink": (
                    f"{V1_PREFIX}/namespaces/{self._namespace}/executions/{execution.short}"
                ),
                "uid": execution.uid,
                "resourceVersion": "AAAAAAAAAAE",
                "generation": 1,
                "creationTimestamp": rfc3339(execution.created),
                "labels": {
                    "cloud.googleapis.com/location": execution.region,
                    JOB_LABEL: execution.job,
                },
                "annotations": {CREATOR_ANNOTATION: execution.creator},
                "ownerReferences": [
                    {
                        "kind": "Job",
                        "name": execution.job,
                        "apiVersion": V1_API_VERSION,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "parallelism": tasks,
                "taskCount": tasks,
                "template": {
                    "spec": {
                        "containers": self._v1_containers(execution.env),
                        "maxRetries": DEFAULT_MAX_RETRIES,
                        "timeoutSeconds": execution.timeout.rstrip("s"),
                    }
                },
            },
            "status": _v1_status(execution, *self._state(execution)),
        }


def _v1_status(
    execution: Execution, outcome: str | None, completed: float | None
) -> dict[str, Any]:
    """An execution's v1 status: task counts and conditions, ``Completed`` first."""
    created = rfc3339(execution.created)
    tasks = execution.task_count
    ready = {"status": "True", "lastTransitionTime": created}
    completed_condition: dict[str, Any] = {"type": "Completed", "status": "Unknown"}
    status: dict[str, Any] = {
        "observedGeneration": 1,
        "startTime": created,
        "runningCount": tasks if outcome is None else 0,
        "logUri": log_uri(execution),
    }
    if outcome is not None:
        status["completionTime"] = rfc3339(completed or execution.created)
        completed_condition["lastTransitionTime"] = status["completionTime"]
        if outcome == "succeeded":
            completed_condition["status"] = "True"
            completed_condition["message"] = SUCCEEDED_MESSAGE
            status["succeededCount"] = tasks
        elif outcome == "failed":
            completed_condition.update(
                status="False", reason="NonZeroExitCode", message=failed_message(execution)
            )
            status["failedCount"] = tasks
        else:
            completed_condition.update(
                status="False", reason="Cancelled", message=CANCELLED_MESSAGE
            )
            status["cancelledCount"] = tasks
    status["conditions"] = [
        completed_condition,
        {"type": "ResourcesAvailable", **ready},
        {"type": "Started", **ready},
    ]
    return status
