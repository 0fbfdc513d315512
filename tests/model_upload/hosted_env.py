"""Python environments the Model-Upload tests build with uv, and the pickles made in one.

- ``hosted``: Numerai's hosted Model-Upload environment (``hosted/requirements.txt``,
  Python 3.11). The example notebooks (``hosted/*.py``) run there as ``__main__``, fit
  their models on the fake's synthetic train data and cloudpickle ``predict`` exactly as
  Numerai's notebooks do; ``hosted/numerai_predict.py`` then computes each pickle's
  predictions there the way Numerai's runner does. Those are what the job must submit.
- ``without_sklearn``: this project's job environment (``uv.lock``, job extra) less
  scikit-learn, as an image would be whose owner added only lightgbm.

Each environment is built once per content (a hash of its requirement list) under
``.cache/model-upload-envs/`` (git-ignored), with bytecode compiled at install (this
machine sets PYTHONDONTWRITEBYTECODE, so it would otherwise recompile at every start). A
lock file keeps two test runs of one checkout from building the same environment at once;
a build that did not finish has no ``.complete`` stamp and is redone.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_ROOT = REPO_ROOT / ".cache" / "model-upload-envs"
HOSTED_DIR = Path(__file__).resolve().parent / "hosted"
PYTHON_VERSION = "3.11"
# The notebooks, each writing <name>.pkl; the data version they read (the fake's).
NOTEBOOKS = (
    "example_model",
    "hello_numerai",
    "xgboost_model",
    "sklearn_pipeline",
    "pandas_objects",
)
DATA_VERSION = "v5.3"
# A cold build downloads ~120 MB (hosted) and compiles ~1 GB of packages (the job's).
BUILD_TIMEOUT = 900
RUN_TIMEOUT = 300
COMPLETE = ".complete"


@dataclass(frozen=True)
class HostedPickle:
    name: str
    path: Path  # the .pkl, as Numerai's notebook wrote it
    expected: Path  # its predictions in the hosted environment: CSV id,prediction


def uv_command() -> list[str]:
    """uv as the Makefile finds it: on PATH, else ``python3 -m uv``."""
    found = shutil.which("uv")
    if found:
        return [found]
    python3 = shutil.which("python3")
    if python3 and _run([python3, "-m", "uv", "--version"], check=False).returncode == 0:
        return [python3, "-m", "uv"]
    raise RuntimeError("uv is not installed: `make bootstrap` installs it")


def hosted_python() -> Path:
    return cached_env("hosted", (HOSTED_DIR / "requirements.txt").read_text())


def without_sklearn_python() -> Path:
    exported = _run(
        [
            *uv_command(),
            *("export", "--frozen", "--no-dev", "--extra", "job", "--no-emit-project"),
            *("--no-hashes", "--no-header", "--no-annotate", "--prune", "scikit-learn"),
        ],
        cwd=REPO_ROOT,
    ).stdout
    assert "scikit-learn" not in exported and "lightgbm==" in exported, exported
    return cached_env("without-sklearn", exported)


def cached_env(name: str, requirements: str) -> Path:
    """The ``python`` of a virtualenv holding exactly ``requirements``, built on first use."""
    key = hashlib.sha256(f"{PYTHON_VERSION}\n{requirements}".encode()).hexdigest()[:16]
    root = CACHE_ROOT / f"{name}-{key}"
    python = root / "bin" / "python"
    if (root / COMPLETE).is_file():
        return python
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with (CACHE_ROOT / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / COMPLETE).is_file():  # built by another run while this one waited
            return python
        shutil.rmtree(root, ignore_errors=True)
        uv = uv_command()
        _run([*uv, "venv", "--quiet", "--python", PYTHON_VERSION, str(root)])
        (root / "requirements.txt").write_text(requirements)
        install = ["pip", "install", "--quiet", "--compile-bytecode", "--python", str(python)]
        _run([*uv, *install, "-r", str(root / "requirements.txt")])
        (root / COMPLETE).write_text(requirements)
    return python


def build_hosted_pickles(data_dir: Path, out: Path) -> dict[str, HostedPickle]:
    """Run the notebooks and Numerai's way of predicting in the hosted environment."""
    python = hosted_python()
    (out / DATA_VERSION).symlink_to(data_dir, target_is_directory=True)
    for notebook in NOTEBOOKS:
        _run([str(python), str(HOSTED_DIR / f"{notebook}.py")], cwd=out, timeout=RUN_TIMEOUT)
    paths = [str(out / f"{name}.pkl") for name in NOTEBOOKS]
    runner = HOSTED_DIR / "numerai_predict.py"
    _run([str(python), str(runner), DATA_VERSION, str(out), *paths], cwd=out, timeout=RUN_TIMEOUT)
    return {
        name: HostedPickle(name, out / f"{name}.pkl", out / f"{name}.csv") for name in NOTEBOOKS
    }


def clean_env() -> dict[str, str]:
    """This environment without what would tie a child Python to ours (`uv run` sets
    VIRTUAL_ENV); the rest (OpenBLAS settings, proxies) is kept."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT")
    } | {"UV_PYTHON_DOWNLOADS": "never"}


def _run(
    argv: list[str], *, cwd: Path | None = None, timeout: float = BUILD_TIMEOUT, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        command = " ".join(argv[:4])
        raise RuntimeError(f"{command} … exited {done.returncode}: {done.stderr[-2000:]}")
    return done
