"""The job container's start-up, measured in the built image (``make image-test``).

Cloud Run pulls and starts the job image for every execution, so what a run costs before
its first log line matters. Figures, each the median (and range) of ``RUNS`` rounds of
``buildah run`` on the built image, after one unmeasured round (the image's files into
the page cache); each round runs:

- ``python -c pass``: the container and a bare interpreter, the floor under the rest;
- a real dry run (``python -m job``, one pred1 model mounted read-only, a fresh data dir)
  against the fake Numerai on the host: start → first log line, start → exit;
- the same run under ``python -X importtime``: the time the job spent importing modules
  (the sum of the top-level imports; the option itself adds some).

Figures are printed, never asserted (a benchmark, not a timed test).
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.image import buildah as bh

RUNS = 5
# Where the host directory with the model and its registry appears in the container.
MOUNT = "/mnt/job-startup"
RUN_TIMEOUT_S = 300.0
# -X importtime lines: "import time: <self µs> | <cumulative µs> | <indented name>".
IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)$")


@dataclass(frozen=True)
class JobRun:
    first_log_s: float
    exit_s: float
    first_line: dict
    last_line: dict
    import_s: float | None  # under -X importtime only


def figures(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def prepare_mount(folder: Path, model: Path, model_id: str) -> None:
    """The model and a registry naming it, readable by the image's non-root user."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.cbm").write_bytes(model.read_bytes())
    (folder / "models.toml").write_text(
        f'[models.startup]\nid = "{model_id}"\npredictor = "pred1"\n'
        f'[models.startup.options]\nmodel_path = "{MOUNT}/model.cbm"\nfeature_set = "medium"\n',
        encoding="utf-8",
    )
    for path in (folder, *folder.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)


def timed(b: bh.Buildah, ctr: str, *cmd: str) -> tuple[float, str]:
    started = time.perf_counter()
    proc = b.run("run", "--isolation=chroot", ctr, "--", *cmd)
    return time.perf_counter() - started, proc.stdout


def import_seconds(stderr: str) -> float:
    """The sum of the top-level imports' cumulative times in ``-X importtime`` output."""
    found = [IMPORT_LINE.match(line) for line in stderr.splitlines()]
    top = [int(m.group(1)) for m in found if m is not None and not m.group(2)]
    if not top:
        raise AssertionError(f"no -X importtime output:\n{stderr[-2000:]}")
    return sum(top) / 1e6


def job_run(
    b: bh.Buildah, ctr: str, folder: Path, env: dict[str, str], *, importtime: bool = False
) -> JobRun:
    args = ["run", "--isolation=chroot", f"--volume={folder}:{MOUNT}:ro"]
    args += [f"--env={key}={value}" for key, value in env.items()]
    python = ["python", "-X", "importtime"] if importtime else ["python"]
    # stderr to a file: -X importtime writes more than a pipe holds before the first log.
    with tempfile.TemporaryFile("w+") as errors:
        started = time.perf_counter()
        proc = subprocess.Popen(
            b.argv(*args, ctr, "--", *python, "-m", "job"),
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # stdout is a pipe: the job flushes each line
        first_log = time.perf_counter() - started
        try:
            rest, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()  # buildah run, and with it the container's process
            proc.communicate()
            raise
        exit_s = time.perf_counter() - started
        errors.seek(0)
        err = errors.read()
    lines = [first, *rest.splitlines()]
    if proc.returncode != 0 or not first.strip():
        raise AssertionError(f"job exited {proc.returncode}:\n{''.join(lines)}\n{err}")
    return JobRun(
        first_log,
        exit_s,
        json.loads(first),
        json.loads(lines[-1]),
        import_seconds(err) if importtime else None,
    )


def measure(b: bh.Buildah, ctr: str, folder: Path, env: dict[str, str]) -> dict:
    bare: list[float] = []
    runs: list[JobRun] = []
    traced: list[JobRun] = []
    for i in range(RUNS + 1):  # round 0 warms the page cache and is not counted
        fresh = {**env, "NUMERAI_DATA_DIR": f"/tmp/startup-{i}"}
        seconds = timed(b, ctr, "python", "-c", "pass")[0]
        run = job_run(b, ctr, folder, fresh)
        fresh["NUMERAI_DATA_DIR"] += "-importtime"
        run_traced = job_run(b, ctr, folder, fresh, importtime=True)
        if i:
            bare.append(seconds)
            runs.append(run)
            traced.append(run_traced)
    return {
        "runs": RUNS,
        "container + python -c pass, s": figures(bare),
        "python -m job start → first log line, s": figures([r.first_log_s for r in runs]),
        "python -m job start → exit (dry run, 1 model), s": figures([r.exit_s for r in runs]),
        "python -m job imports (-X importtime), s": figures([r.import_s or 0.0 for r in traced]),
        "first log line": runs[0].first_line.get("message"),
        "last event": [r.last_line.get("event") for r in [*runs, *traced]],
    }
