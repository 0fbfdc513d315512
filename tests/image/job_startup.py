"""The job container's start-up, measured in the built image (``make image-test``).

Cloud Run pulls and starts the job image for every execution, so what a run costs before
its first log line matters. Three figures, each the median (and range) of ``RUNS`` runs
of ``buildah run`` on the built image:

- ``python -c pass``: the container and a bare interpreter, the floor under the rest;
- import time: ``import job.runner`` and the pred1 predictor with CatBoost, timed inside
  the container (what the job loads before it can say anything about the round);
- start → first log line and start → exit of a real dry run (``python -m job``, one pred1
  model mounted read-only, a fresh data dir per run) against the fake Numerai on the host.

Figures are printed, never asserted (a benchmark, not a timed test).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.image import buildah as bh

RUNS = 5
# Where the host directory with the model and its registry appears in the container.
MOUNT = "/mnt/job-startup"
IMPORT_PROBE = (
    "import time; t = time.perf_counter(); "
    "import job.runner, predictors.pred1.predictor, catboost; "
    "print(time.perf_counter() - t)"
)
RUN_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class JobRun:
    first_log_s: float
    exit_s: float
    first_line: dict
    last_line: dict
    code: int


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


def job_run(b: bh.Buildah, ctr: str, folder: Path, env: dict[str, str]) -> JobRun:
    args = ["run", "--isolation=chroot", f"--volume={folder}:{MOUNT}:ro"]
    args += [f"--env={key}={value}" for key, value in env.items()]
    started = time.perf_counter()
    proc = subprocess.Popen(
        b.argv(*args, ctr, "--", "python", "-m", "job"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # stdout is a pipe: the job flushes each line
    first_log = time.perf_counter() - started
    rest, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    exit_s = time.perf_counter() - started
    lines = [first, *rest.splitlines()]
    if proc.returncode != 0 or not first.strip():
        raise AssertionError(f"job exited {proc.returncode}:\n{''.join(lines)}\n{err}")
    return JobRun(first_log, exit_s, json.loads(first), json.loads(lines[-1]), proc.returncode)


def measure(b: bh.Buildah, ctr: str, folder: Path, env: dict[str, str]) -> dict:
    bare = [timed(b, ctr, "python", "-c", "pass")[0] for _ in range(RUNS)]
    imports = [float(timed(b, ctr, "python", "-c", IMPORT_PROBE)[1]) for _ in range(RUNS)]
    runs = [
        job_run(b, ctr, folder, {**env, "NUMERAI_DATA_DIR": f"/tmp/startup-{i}"})
        for i in range(RUNS)
    ]
    return {
        "runs": RUNS,
        "container + python -c pass, s": figures(bare),
        "import job.runner + pred1 + catboost (in the container), s": figures(imports),
        "python -m job start → first log line, s": figures([r.first_log_s for r in runs]),
        "python -m job start → exit (dry run, 1 model), s": figures([r.exit_s for r in runs]),
        "first log line": runs[0].first_line.get("message"),
        "last event": [r.last_line.get("event") for r in runs],
    }
