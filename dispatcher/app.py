"""The aiohttp application: routes, checks in contract order, one log line per webhook."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from dispatcher.cloudrun import CloudRunLauncher
from dispatcher.dedupe import TriggerDedupe
from dispatcher.history import LaunchHistory
from dispatcher.launcher import Launched, Launcher, LaunchError, LaunchRequest
from dispatcher.local import LocalLauncher
from dispatcher.settings import CloudRunSettings, LocalSettings, Settings
from dispatcher.webhook import MAX_BODY_BYTES, BodyNotJson, ShapeError, Webhook, parse_body

log = logging.getLogger("dispatcher")

SETTINGS = web.AppKey("settings", Settings)
LAUNCHER = web.AppKey("launcher", Launcher)
# (answer body, existing): existing when the execution was found, not started, here.
DEDUPE = web.AppKey("dedupe", TriggerDedupe[tuple[dict[str, Any], bool]])
# Reading what was launched lately (dispatcher/history.py), started with the launcher;
# webhooks wait for it before their dedupe check.
HISTORY = web.AppKey("history", asyncio.Task[None])

# A model id in the path is at most a UUID (36 characters); anything longer is cut in
# logs so an anonymous caller cannot write arbitrary amounts into them.
_LOGGED_ID_CHARS = 64


class Rejection(Exception):
    """The webhook is refused: raised where a check fails, rendered once (JSON body
    ``{"error", "field"?}`` with ``status``) and logged once by ``handle_webhook``."""

    def __init__(self, status: int, reason: str, field_name: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.field = field_name

    def response(self) -> web.Response:
        return _error(self.status, self.reason, self.field)


def create_app(settings: Settings, *, launcher: Launcher | None = None) -> web.Application:
    """The dispatcher app. Without ``launcher``, the one for ``settings.backend`` is opened
    (and closed) with the app; an injected one is used as is."""
    app = web.Application(middlewares=[_json_errors])
    app[SETTINGS] = settings
    app[DEDUPE] = TriggerDedupe()
    app.cleanup_ctx.append(_launcher_ctx(launcher))
    app.router.add_post("/pred/{model_id}", handle_webhook)
    app.router.add_get("/healthz", handle_healthz)
    if isinstance(settings.backend, LocalSettings):
        app.router.add_get("/local/executions", handle_local_executions)
        app.router.add_get("/local/executions/{execution}", handle_local_execution)
    return app


def _open_launcher(settings: Settings) -> contextlib.AbstractAsyncContextManager[Launcher]:
    match settings.backend:
        case CloudRunSettings() as cloud_run:
            return CloudRunLauncher.open(cloud_run)
        case LocalSettings() as local:
            return LocalLauncher.open(local)


def _launcher_ctx(
    injected: Launcher | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if injected is not None:
                app[LAUNCHER] = injected
            else:
                app[LAUNCHER] = await stack.enter_async_context(_open_launcher(app[SETTINGS]))
            app[HISTORY] = asyncio.ensure_future(_remember_recent_launches(app))
            try:
                yield
            finally:
                app[HISTORY].cancel()

    return ctx


async def _remember_recent_launches(app: web.Application) -> None:
    """Seed the dedupe with what this deployment launched lately, so that a restart (or
    a new instance) does not launch a trigger again. Without it (a launcher that keeps
    no history, or the API failing) the dedupe starts empty: a repeated trigger then
    costs a second run, not a wrong one — Numerai keeps the latest submission."""
    launcher = app[LAUNCHER]
    if not isinstance(launcher, LaunchHistory):
        return
    jobs = {entry.job for entry in app[SETTINGS].registry.models} | {None}
    try:
        launches = await launcher.recent_launches(jobs)
    except Exception as exc:  # API errors, the time budget: never stop the service
        log.warning(
            "recent executions could not be read; duplicate triggers are recognised from "
            "now on only: %s: %s",
            type(exc).__name__,
            exc,
            extra={"fields": {"event": "history", "error": str(exc)}},
        )
        return
    dedupe = app[DEDUPE]
    for launch in launches:
        round_sent: int | str = int(launch.round) if launch.round.isdigit() else launch.round
        body = _answer(launch.launched, launch.model_id, round_sent, launch.trigger_id)
        dedupe.remember(launch.key, (body, True))
    log.info(
        "%d recent launch(es) read from the executions of %d job(s)",
        len(launches),
        len(jobs),
        extra={"fields": {"event": "history", "launches": len(launches)}},
    )


def _answer(launched: Launched, model_id: str, round_sent: int | str, trigger_id: str) -> dict:
    """The webhook's answer body (202, or 200 for a trigger already launched)."""
    return {
        "execution": launched.execution,
        "execution_name": launched.execution_name,
        "model_id": model_id,
        "round": round_sent,
        "trigger_id": trigger_id,
    }


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Rejections outside the webhook (local endpoints) and router errors (unknown path
    404, wrong method 405) as JSON, like the webhook's."""
    try:
        return await handler(request)
    except Rejection as rejection:
        return rejection.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() != "content-type"}
        return web.json_response({"error": exc.reason}, status=exc.status, headers=headers)


def _error(status: int, reason: str, field_name: str | None = None) -> web.Response:
    body: dict[str, str] = {"error": reason}
    if field_name is not None:
        body["field"] = field_name
    return web.json_response(body, status=status)


@dataclass
class _Outcome:
    """What the webhook's log line reports (never the token or the query string)."""

    model_id: str
    model_name: str | None = None
    round: str | None = None
    trigger_id: str | None = None
    execution: str | None = None
    duplicate: bool | None = None
    error: str | None = None
    bad_field: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


async def handle_webhook(request: web.Request) -> web.StreamResponse:
    started = time.perf_counter()
    outcome = _Outcome(model_id=request.match_info["model_id"][:_LOGGED_ID_CHARS])
    response: web.Response | None = None
    try:
        try:
            response = await _webhook(request, outcome)
        except Rejection as rejection:
            outcome.error, outcome.bad_field = rejection.reason, rejection.field
            response = rejection.response()
        except Exception:
            log.exception(
                "webhook failed unexpectedly", extra={"labels": {"model_id": outcome.model_id}}
            )
            outcome.error = "internal error"
            response = _error(500, "internal error")
        return response
    except asyncio.CancelledError:
        outcome.error = "cancelled before an answer was sent (client gone or shutdown)"
        raise
    finally:
        # 499: no answer was sent (nginx's code for a client that went away).
        status = response.status if response is not None else 499
        _log_webhook(outcome, status, time.perf_counter() - started)


async def _webhook(request: web.Request, outcome: _Outcome) -> web.Response:
    """The checks in contract order (each raises its Rejection), then dedupe and launch."""
    app = request.app
    # 1. Token, before anything else of the request is looked at.
    if not _token_ok(request):
        raise Rejection(401, "missing or wrong token")
    # 2. The model must be registered.
    entry = app[SETTINGS].registry.by_id(request.match_info["model_id"])
    if entry is None:
        raise Rejection(404, f"model {outcome.model_id} is not in the registry")
    outcome.model_id, outcome.model_name = entry.id, entry.name
    # 3–5. Size, JSON, shape.
    hook = _parse(await _read_limited(request))
    outcome.round, outcome.trigger_id = hook.round_text, hook.trigger_id
    outcome.extra = {"data_version": hook.data_version, "is_test": hook.is_test}
    # 6–7. Dedupe, launch.
    launch = LaunchRequest(
        model_id=entry.id,
        model_name=entry.name,
        job=entry.job,
        round=hook.round_text,
        trigger_id=hook.trigger_id,
        is_test=hook.is_test,
    )
    launcher = app[LAUNCHER]

    async def start() -> tuple[dict[str, Any], bool]:
        launched = await launcher.launch(launch)
        body = _answer(launched, entry.id, hook.round, hook.trigger_id)
        return body, launched.existing

    # A new instance first learns what was launched before it (bounded; see HISTORY).
    history = app[HISTORY]
    if not history.done():
        await asyncio.shield(history)
    try:
        # Keyed by model and trigger: a trigger id names one model's run.
        (body, existing), first = await app[DEDUPE].run((entry.id, hook.trigger_id), start)
    except LaunchError as exc:
        raise Rejection(503 if exc.transient else 502, exc.reason) from None
    started = first and not existing
    outcome.execution, outcome.duplicate = body["execution"], not started
    return web.json_response(body, status=202 if started else 200)


def _parse(raw: bytes) -> Webhook:
    try:
        return parse_body(raw)
    except BodyNotJson as exc:
        raise Rejection(400, str(exc)) from None
    except ShapeError as exc:
        raise Rejection(422, exc.reason, exc.field) from None


def _token_ok(request: web.Request) -> bool:
    """No token configured (local mode only), or ``?token=`` matches one of the tokens
    (the current one, and the previous one during a rotation), in constant time: every
    token is compared, whichever matches."""
    expected = request.app[SETTINGS].tokens
    if not expected:
        return True
    given = request.query.get("token")
    if given is None:
        return False
    matches = [hmac.compare_digest(given.encode(), token.encode()) for token in expected]
    return any(matches)


async def _read_limited(request: web.Request) -> bytes:
    """The body; a 413 Rejection as soon as it exceeds MAX_BODY_BYTES: the declared
    length first, then what actually arrives (never buffers more)."""
    declared = request.content_length
    if declared is not None and declared > MAX_BODY_BYTES:
        raise Rejection(413, f"body larger than {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(MAX_BODY_BYTES + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Rejection(413, f"body larger than {MAX_BODY_BYTES} bytes")


def _log_webhook(outcome: _Outcome, status: int, elapsed_s: float) -> None:
    fields: dict[str, Any] = {
        "event": "webhook",
        "status": status,
        "execution": outcome.execution,
        "latency_ms": round(elapsed_s * 1000, 1),
        "model_name": outcome.model_name,
        **outcome.extra,
    }
    if outcome.duplicate is not None:
        fields["duplicate"] = outcome.duplicate
    if outcome.error is not None:
        fields["error"] = outcome.error
    if outcome.bad_field is not None:
        fields["field"] = outcome.bad_field
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    what = f"execution {outcome.execution}" if outcome.execution else outcome.error
    log.log(
        level,
        "webhook %s %s: %s",
        outcome.model_name or outcome.model_id,
        status,
        what,
        extra={
            "labels": {
                "model_id": outcome.model_id,
                "round": outcome.round,
                "trigger_id": outcome.trigger_id,
            },
            "fields": fields,
        },
    )


async def handle_healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "mode": request.app[SETTINGS].mode})


def _local(request: web.Request) -> LocalLauncher:
    """The local launcher, after the same token check the webhook has (if one is set)."""
    if not _token_ok(request):
        raise Rejection(401, "missing or wrong token")
    launcher = request.app[LAUNCHER]
    if not isinstance(launcher, LocalLauncher):
        raise Rejection(404, "no local executions: the launcher is not local")
    return launcher


async def handle_local_executions(request: web.Request) -> web.Response:
    return web.json_response({"executions": _local(request).executions()})


async def handle_local_execution(request: web.Request) -> web.Response:
    found = _local(request).execution(request.match_info["execution"])
    if found is None:
        name = request.match_info["execution"][:_LOGGED_ID_CHARS]
        raise Rejection(404, f"no local execution {name}")
    return web.json_response(found)
