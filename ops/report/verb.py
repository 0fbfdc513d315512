"""The report verb: read the inputs, ask Numerai, read logs and executions, print, exit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import IO, Any

from common.contract import EXIT_FAILED, EXIT_OK
from common.redact import scrub
from common.registry import ModelEntry
from ops import models, numerai
from ops.gcloud import HIDDEN, Gcloud, OpsError
from ops.report import render, rounds, sources, verdict
from ops.settings import ConfigError, OpsSettings
from ops.submissions import Submission, list_submissions

NEEDS_NUMERAPI = "report needs numerapi: run it as `make report` (it uses .venv)"


def _ask_numerai(
    api: Any, wanted: str | int, entries: Sequence[ModelEntry], secrets: Sequence[str]
) -> tuple[rounds.Round, dict[str, Submission | None]]:
    """The round and each model's submission for it; OpsError (scrubbed) when Numerai
    does not answer."""
    try:
        rnd = rounds.resolve(api, wanted)
        subs = {e.id: list_submissions(api, e.id).for_round(rnd.number) for e in entries}
    except ConfigError:
        raise
    except Exception as exc:  # NumeraiError/TransientError, numerapi's KeyError/TypeError
        reason = scrub(f"{type(exc).__name__}: {exc}", secrets, mask=HIDDEN)
        raise OpsError(f"Numerai did not answer: {reason}") from None
    return rnd, subs


def run_report(s: OpsSettings, g: Gcloud, environ: Mapping[str, str], out: IO[str]) -> int:
    spec = environ.get("MODEL", "").strip() or models.ALL
    entries = models.resolve(models.load(s.models_file), spec)
    wanted = rounds.parse_round(environ.get("ROUND"))
    fmt = render.parse_format(environ)
    keys = numerai.numerai_keys(s, g, environ)
    jobs = [e.job_or(s.job_name) for e in entries]
    if keys is None:  # a dry run: the key reads above were only printed
        sources.read_runs(s, g, jobs, rounds.Round(0, None))  # printed, not run
        print(
            f"dry run: would ask Numerai for round {wanted} and the submissions of "
            f"{len(entries)} model(s), read the job's summary lines of that round (gcloud "
            "logging read, from the round's opening) and the executions above",
            file=out,
        )
        return EXIT_OK
    api = numerai.numerai_client(environ, keys, needs=NEEDS_NUMERAPI)
    rnd, subs = _ask_numerai(api, wanted, entries, keys.values)
    every = spec.lower() == models.ALL
    summaries = sources.read_summaries(s, g, rnd, [] if every else [e.id for e in entries])
    runs = sources.read_runs(s, g, jobs, rnd)
    ids = verdict.Identities(s.dispatcher_sa_email, s.scheduler_sa_email)
    rows = [verdict.row(e, rnd, subs[e.id], summaries, runs, ids) for e in entries]
    if fmt == "json":
        print(render.as_json(rnd, rows, keys.values), file=out)
    else:
        print(render.table(rnd, rows, keys.values), file=out)
    submitted = all(r.state == verdict.SUBMITTED for r in rows)
    return EXIT_OK if submitted else EXIT_FAILED
