"""Start a Cloud Run Job execution through the real google-cloud-run client.

Why the sync client: ``JobsAsyncClient`` has no REST transport (asked for one, it sends
the request synchronously and then raises, and a retry would start a second execution),
and gRPC is not what a local fake speaks. So the sync ``JobsClient(transport="rest")``
builds the RunJob request, and ``dispatcher.runjob`` sends it with aiohttp's client on
the event loop (the client's own ``run_job``, in a dedicated thread pool sized for the
burst at round open, when that path is unavailable). The executions are read with the
sync ``ExecutionsClient`` in the same pool. ``google.cloud.run_v2`` is imported only here,
when the launcher opens, so local mode and /healthz never pay its ~0.5 s import.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import gc
import logging
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import aiohttp

from dispatcher import history, runjob
from dispatcher.launcher import Launched, LaunchError, LaunchRequest, short_execution_id
from dispatcher.settings import API_ENDPOINT_ENV, CloudRunSettings, SettingsError

if TYPE_CHECKING:
    from google.cloud import run_v2

log = logging.getLogger(__name__)

# Launches in flight at once. A user with 100 models gets 100 webhooks at once when a
# round opens; at ~0.3 s per API call, 6 at a time (asyncio.to_thread's default pool on
# a 1-vCPU instance) would take 5 s, while 128 answer them all within ~0.5 s. On the
# fast path they are connections (HTTP_POOL_SIZE); on the client's own path and for
# reading executions, threads. Threads are started only when needed, so idle cost is nil.
LAUNCH_THREADS = 128
# One pooled HTTP connection per launch at once; requests' default of 10 would open and
# throw away a connection (and a TLS handshake) for every extra thread.
HTTP_POOL_SIZE = LAUNCH_THREADS
# Do not start another attempt with less time than this left in the budget: a call
# cut shorter than a normal API round trip would fail anyway.
MIN_ATTEMPT_S = 0.5
# How long reading the recent executions may take at start-up (webhooks arriving
# meanwhile wait for it): one or two list calls, normally well under a second.
HISTORY_BUDGET_S = 4.0


def _credentials_and_options(settings: CloudRunSettings) -> dict[str, Any]:
    """The client arguments for the real API (Application Default Credentials: the
    service's own account on Cloud Run) or a local fake (anonymous)."""
    if not settings.api_endpoint:
        return {}
    from google.auth.credentials import AnonymousCredentials

    return {
        "credentials": AnonymousCredentials(),
        "client_options": {"api_endpoint": settings.api_endpoint},
    }


def _make_executions_client(settings: CloudRunSettings) -> run_v2.ExecutionsClient:
    from google.cloud import run_v2

    return run_v2.ExecutionsClient(transport="rest", **_credentials_and_options(settings))


def _ambiguous(exc: BaseException) -> bool:
    """The ``:run`` call may have started an execution although it failed: a 500 or 504
    from the API, or no answer in time. (A 503 or a refused connection means it did not.)"""
    from google.api_core import exceptions as api

    return isinstance(exc, api.InternalServerError | api.GatewayTimeout) or _no_answer(exc)


def _no_answer(exc: BaseException) -> bool:
    """Sent, and no answer in time: requests' ``Timeout``, or aiohttp's timeouts (they are
    ``TimeoutError``s); not their connect timeouts, after which nothing was sent."""
    import requests

    if isinstance(exc, aiohttp.ConnectionTimeoutError | requests.ConnectTimeout):
        return False
    return isinstance(exc, requests.Timeout | TimeoutError)


def _make_client(settings: CloudRunSettings) -> run_v2.JobsClient:
    from google.cloud import run_v2

    client = run_v2.JobsClient(
        transport="rest",
        client_info=runjob.client_info(),
        **_credentials_and_options(settings),
    )
    _size_connection_pool(client)
    return client


def _size_connection_pool(client: Any) -> None:
    # The REST transport keeps its requests session private; enlarging its pool is an
    # optimisation only, so it is skipped quietly if a client release renames it.
    session = getattr(client.transport, "_session", None)
    if session is None:
        return
    # requests otherwise re-reads the environment for proxy settings and looks for a
    # ~/.netrc on every call (~15% of the client's CPU per launch, profiled). The API is
    # reached directly from Cloud Run; a proxy is never configured through env here.
    session.trust_env = False
    from requests.adapters import HTTPAdapter

    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=HTTP_POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


def _classify(exc: BaseException) -> tuple[LaunchError, bool] | None:
    """Map a client error to (LaunchError, retry?); None for errors we do not know.

    Transport errors come from requests (the client's own calls) or from aiohttp (the
    fast RunJob path, ``runjob.HttpRunJob``), classified alike: aiohttp's connect
    timeouts, refusals and dropped connections are what requests calls
    ``ConnectionError``; any other timeout (aiohttp's are ``TimeoutError``s) what
    requests calls ``Timeout``."""
    import requests
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    if isinstance(exc, api.ServiceUnavailable | api.InternalServerError | api.GatewayTimeout):
        # Named transient server errors (GatewayTimeout includes DeadlineExceeded). After
        # a 500 or 504 the launcher first looks for the execution (_ambiguous).
        return LaunchError(f"Cloud Run API unavailable: {exc}", transient=True), True
    # aiohttp's connection errors include its timeouts, all but its connect timeout
    # handled as no answer in time (below).
    unreachable = requests.ConnectionError | auth.TransportError | aiohttp.ClientConnectionError
    if isinstance(exc, unreachable) and not _no_answer(exc):
        # No answer over the connection: refused, DNS, connect timeout, or a pooled
        # keep-alive connection the server had closed. Almost always the request was
        # not processed; the bounded retry is what Numerai would do anyway.
        reason = f"cannot reach the Cloud Run API: {type(exc).__name__}"
        return LaunchError(reason, transient=True), True
    if _no_answer(exc):
        # The API may have accepted the run and just not answered in time; retrying here
        # could start a second execution, so answer 503 at once and let Numerai decide
        # (its next delivery looks for the execution first).
        return LaunchError("Cloud Run API did not answer in time", transient=True), False
    if isinstance(exc, api.TooManyRequests | api.ServerError):
        # Quota or another 5xx: worth trying later, not within the same second.
        return LaunchError(f"Cloud Run API busy: {exc}", transient=True), False
    if isinstance(exc, auth.RefreshError):
        reason = f"cannot get credentials for the Cloud Run API: {exc}"
        return LaunchError(reason, transient=True), False
    if isinstance(exc, api.GoogleAPICallError):
        # 400 / 403 / 404 …: Cloud Run refused (bad request, missing permission, no such job).
        return LaunchError(f"Cloud Run refused the run: {exc}", transient=False), False
    return None


class CloudRunLauncher:
    """``Launcher`` that runs the model's Cloud Run Job with the webhook's overrides."""

    def __init__(
        self,
        settings: CloudRunSettings,
        client: run_v2.JobsClient,
        executor: ThreadPoolExecutor,
        executions: run_v2.ExecutionsClient,
        run_job: runjob.RunJob,
    ) -> None:
        self._settings = settings
        self._client = client
        self._executor = executor
        self._executions = executions
        self._run = run_job
        # (model id, trigger id) of launches whose outcome is unknown (an ambiguous error
        # and no execution found yet): their next delivery looks before launching.
        self._unsure: set[tuple[str, str]] = set()

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: CloudRunSettings) -> AsyncIterator[CloudRunLauncher]:
        """Create the client and its thread pool; close both on exit."""
        executor = ThreadPoolExecutor(max_workers=LAUNCH_THREADS, thread_name_prefix="runjob")
        loop = asyncio.get_running_loop()
        try:
            # Off the loop: the import and ADC discovery block for a moment.
            client = await loop.run_in_executor(executor, _make_client, settings)
            executions = await loop.run_in_executor(executor, _make_executions_client, settings)
            probe_job = settings.job_name(None)
            run_job = runjob.choose(client, probe_job, HTTP_POOL_SIZE, executor)
        except Exception as exc:
            await loop.run_in_executor(None, executor.shutdown)
            from google.auth.exceptions import DefaultCredentialsError

            if isinstance(exc, DefaultCredentialsError):
                raise SettingsError(
                    "no Google credentials for the Cloud Run API: run on Cloud Run with a service "
                    f"account, set up Application Default Credentials, or set {API_ENDPOINT_ENV} "
                    f"to a local fake ({exc})"
                ) from None
            raise
        # What exists now (the client's imports: ~70,000 objects, protobuf descriptors
        # mostly) lives as long as the process. Left to the collector, every full
        # collection (measured: one per ~3,000 webhooks) walks all of it while every
        # webhook in flight waits, 60-150 ms on a shared 2-vCPU machine: 1% of the
        # webhooks, so the p99. Frozen, a full collection walks only what came after
        # (6-12 ms).
        gc.freeze()
        try:
            yield cls(settings, client, executor, executions, run_job)
        finally:
            # Webhooks in flight have finished (graceful shutdown) before cleanup runs.
            await loop.run_in_executor(None, executor.shutdown)
            await run_job.close()
            client.transport.close()
            executions.transport.close()

    async def recent_launches(self, jobs: Iterable[str | None]) -> list[history.PastLaunch]:
        """history.LaunchHistory: what was launched on these jobs within history.WINDOW."""
        names = sorted({self._settings.job_name(job) for job in jobs})
        now = dt.datetime.now(dt.UTC)
        read = functools.partial(
            history.recent_launches, self._executions, names, now, timeout=HISTORY_BUDGET_S
        )
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.run_in_executor(self._executor, read), HISTORY_BUDGET_S)

    async def _find(self, request: LaunchRequest, *, earlier: bool) -> Launched | None:
        """The execution already started for this model and trigger, if any: by an
        earlier delivery (``existing``) or by this one's failed-looking call. Raises
        LaunchError (transient) when the API cannot say: then nothing may be launched."""
        key = (request.model_id, request.trigger_id)
        now = dt.datetime.now(dt.UTC)
        find = functools.partial(
            history.find_launch,
            self._executions,
            self._settings.job_name(request.job),
            key,
            now,
            timeout=self._settings.retry.call_timeout_s,
        )
        try:
            found = await asyncio.get_running_loop().run_in_executor(self._executor, find)
        except Exception as exc:
            classified = _classify(exc)
            if classified is None:
                raise
            self._unsure.add(key)
            reason = f"cannot tell whether the run already started: {classified[0].reason}"
            raise LaunchError(reason, transient=True) from exc
        if found is None:
            return None
        self._unsure.discard(key)
        return dataclasses.replace(found.launched, existing=earlier)

    async def launch(self, request: LaunchRequest) -> Launched:
        key = (request.model_id, request.trigger_id)
        if key in self._unsure and (found := await self._find(request, earlier=True)):
            return found
        policy = self._settings.retry
        loop = asyncio.get_running_loop()
        deadline = loop.time() + policy.budget_s
        delay = policy.backoff_s
        for attempt in range(1, policy.attempts + 1):
            timeout = max(MIN_ATTEMPT_S, min(policy.call_timeout_s, deadline - loop.time()))
            try:
                name = await self._run(self._settings.job_name(request.job), request.env(), timeout)
            except Exception as exc:
                classified = _classify(exc)
                if classified is None:
                    raise
                error, retry = classified
                if _ambiguous(exc):
                    # Look before trying again: the failed call may have started it.
                    if (found := await self._find(request, earlier=False)) is not None:
                        return found
                    if not retry:  # no answer in time: it may still be starting
                        self._unsure.add(key)
                left = deadline - loop.time()
                if not retry or attempt == policy.attempts or left < delay + MIN_ATTEMPT_S:
                    raise error from exc
                log.warning(
                    "RunJob attempt %d failed, retrying in %.2fs: %s",
                    attempt,
                    delay,
                    error.reason,
                    extra={
                        "labels": {"model_id": request.model_id, "trigger_id": request.trigger_id}
                    },
                )
                await asyncio.sleep(delay)
                delay *= 2
            else:
                self._unsure.discard(key)
                return Launched(execution=short_execution_id(name), execution_name=name)
        raise AssertionError("unreachable: the last attempt returns or raises")
