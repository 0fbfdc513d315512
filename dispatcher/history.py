"""What was launched lately, read back from Cloud Run: the executions are the ledger.

Every execution the dispatcher (or `make rerun`, or a schedule) starts carries the
model id and the trigger id as environment overrides, and Cloud Run keeps them on the
Execution resource: its ``template`` is "the template used to create tasks for this
execution", overrides applied (google-cloud-run's ``Execution``; ``RunJobRequest``'s
overrides "will be applied to update the execution or task spec"). So nothing new is
stored anywhere: a fresh dispatcher instance (scale to zero, a restart, a new revision)
reads the executions of its jobs created in the last ``WINDOW`` and starts with the
(model, trigger) pairs they hold; and after a ``:run`` call whose outcome is unknown
(500/504, a timeout) the launcher looks for the execution before starting another.

Blocking calls (the sync REST client): run them in the launcher's thread pool.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from common.contract import ALL_MODELS, MODEL_ID_ENV, ROUND_ENV, TRIGGER_ID_ENV
from dispatcher.launcher import Launched, short_execution_id

if TYPE_CHECKING:
    from google.cloud import run_v2

# How far back a new instance looks. Numerai repeats an unanswered webhook within
# minutes; a day covers that many times over, and the daily round is closed by then.
WINDOW = dt.timedelta(hours=24)
# Executions listed per request, and requests per job at most: a user with 100 models
# and a few runs each a day stays within one or two pages; the bound keeps a cold start
# short whatever the history.
PAGE_SIZE = 100
MAX_PAGES = 10


@runtime_checkable
class LaunchHistory(Protocol):
    """A launcher that can say what was launched lately (the Cloud Run one can)."""

    async def recent_launches(self, jobs: Iterable[str | None]) -> list[PastLaunch]:
        """Launches within ``WINDOW`` on these jobs (None: the launcher's default job)."""
        ...


@dataclass(frozen=True)
class PastLaunch:
    """One execution of one model for one trigger, as the webhook's answer needs it."""

    model_id: str
    trigger_id: str
    round: str  # NUMERAI_ROUND as launched: a number or "test"
    launched: Launched

    @property
    def key(self) -> tuple[str, str]:
        return (self.model_id, self.trigger_id)


def past_launch(execution: run_v2.Execution) -> PastLaunch | None:
    """The launch an execution records, or None when it names no single model and
    trigger (a scheduled run for several models, a manual run without a trigger)."""
    env = {var.name: var.value for c in execution.template.containers for var in c.env}
    model_id, trigger_id = env.get(MODEL_ID_ENV, ""), env.get(TRIGGER_ID_ENV, "")
    if not model_id or not trigger_id or model_id == ALL_MODELS or "," in model_id:
        return None
    launched = Launched(execution=short_execution_id(execution.name), execution_name=execution.name)
    return PastLaunch(model_id.strip().lower(), trigger_id, env.get(ROUND_ENV, ""), launched)


def recent_executions(
    client: run_v2.ExecutionsClient, job_name: str, since: dt.datetime, *, timeout: float
) -> Iterator[Any]:
    """The executions of ``job_name`` created at or after ``since``, newest first."""
    pager = client.list_executions(
        request={"parent": job_name, "page_size": PAGE_SIZE}, timeout=timeout, retry=None
    )
    for number, page in enumerate(pager.pages, start=1):
        for execution in page.executions:
            created = execution.create_time
            if created is not None and created < since:
                return  # the API lists newest first: the rest are older still
            yield execution
        if number >= MAX_PAGES:
            return


def recent_launches(
    client: run_v2.ExecutionsClient,
    job_names: Iterable[str],
    now: dt.datetime,
    *,
    timeout: float,
) -> list[PastLaunch]:
    """Every single-model launch with a trigger in the executions of ``job_names``
    created within ``WINDOW`` of ``now``. A job that does not exist (a registry entry's
    job not deployed yet) has launched nothing; other API errors propagate."""
    from google.api_core.exceptions import NotFound

    found = []
    for job_name in job_names:
        try:
            executions = list(recent_executions(client, job_name, now - WINDOW, timeout=timeout))
        except NotFound:
            continue
        found += [launch for e in executions if (launch := past_launch(e)) is not None]
    return found


def find_launch(
    client: run_v2.ExecutionsClient,
    job_name: str,
    key: tuple[str, str],
    now: dt.datetime,
    *,
    timeout: float,
) -> PastLaunch | None:
    """The newest execution of ``job_name`` within ``WINDOW`` launched for ``key``
    (model id, trigger id), or None. API errors propagate."""
    for execution in recent_executions(client, job_name, now - WINDOW, timeout=timeout):
        launch = past_launch(execution)
        if launch is not None and launch.key == key:
            return launch
    return None
