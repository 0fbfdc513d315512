"""``python -m dispatcher``: read the settings, set up logging, serve until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence

from common import jsonlog, redact
from common.contract import EXIT_CONFIG, EXIT_FAILED
from dispatcher import logbuffer
from dispatcher.settings import Settings, SettingsError

log = logging.getLogger("dispatcher")

# Cloud Run sends SIGKILL 10 s after SIGTERM; in-flight webhooks (whose launch budget
# is 7 s) get 9 s to finish before the server closes their connections.
SHUTDOWN_TIMEOUT_S = 9.0
# The port cannot be bound (taken, or not ours): a caller that picked the port may try
# another one (local.sandbox does).
EXIT_LISTEN = EXIT_FAILED


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m dispatcher",
        description="Numerai Compute webhook → Cloud Run Job execution. Configured by "
        "environment variables: PORT, LISTEN_HOST, DISPATCH_MODE, WEBHOOK_TOKEN, "
        "WEBHOOK_TOKEN_PREVIOUS, GOOGLE_CLOUD_PROJECT, "
        "CLOUD_RUN_REGION, CLOUD_RUN_JOB, CLOUD_RUN_API_ENDPOINT, NUMERAI_MODELS_FILE, "
        "LOCAL_EXECUTIONS_DIR, LOG_FORMAT.",
    ).parse_args(argv)
    environ = os.environ if environ is None else environ
    try:
        fmt = jsonlog.choose_format(environ.get(jsonlog.LOG_FORMAT_ENV), sys.stdout)
        settings = Settings.from_env(environ)
    except (SettingsError, ValueError) as exc:
        print(f"dispatcher: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    handler = logbuffer.BatchedStreamHandler(logbuffer.buffered_stdout())
    jsonlog.configure(fmt, handler=handler)
    redact.install(settings.tokens)

    # Imported here, not at the top: `--help` and configuration errors stay instant.
    from aiohttp import web

    from dispatcher.app import create_app

    log.info(
        "dispatcher starting on port %d (%s mode, models registered: %d)",
        settings.port,
        settings.mode,
        len(settings.registry.models),
        extra={"fields": {"event": "start", "mode": settings.mode, "port": settings.port}},
    )
    app = create_app(settings)
    app.cleanup_ctx.append(logbuffer.draining(handler))
    try:
        web.run_app(
            app,
            host=settings.listen_host,
            port=settings.port,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
            # aiohttp's access log prints the query string, which carries the token;
            # each webhook gets our own log line instead.
            access_log=None,
            print=None,
        )
    except SettingsError as exc:  # raised while opening the launcher
        print(f"dispatcher: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:  # e.g. the port is taken
        reason = exc.strerror or exc
        where = f"{settings.listen_host}:{settings.port}"
        print(f"dispatcher: cannot listen on {where} ({reason})", file=sys.stderr)
        return EXIT_LISTEN
    log.info("dispatcher stopped", extra={"fields": {"event": "stop"}})
    return 0
