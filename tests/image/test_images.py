"""Build both images for real (buildah + a debootstrap stand-in base) and run them.

Slow (`make image-test`): installs buildah/debootstrap when missing, makes the base
once (cached under build/image-test, or $NUMERAI_IMAGE_CACHE), builds both images
from scratch, then runs ``python -m job --help`` and the dispatcher's ``/healthz``
inside them. Sizes and build times are printed and written to report.json there, with
the job container's start-up figures (tests/image/job_startup.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.image import buildah as bh
from tests.image import job_startup
from tests.job.support import MODEL_A

pytestmark = [
    pytest.mark.slow,
    # Root is needed by buildah (and apt-get); CI and these machines run as root.
    pytest.mark.skipif(os.geteuid() != 0, reason="buildah builds need root here"),
    # A cold build (base + both images) takes ~3-5 min here; leave room for a slow mirror.
    pytest.mark.timeout(1800),
]

JOB_TAG = "localhost/numerai-job:test"
DISPATCHER_TAG = "localhost/numerai-dispatcher:test"
RUNTIME_UID = "10001"
# The dispatcher must not carry the job's heavy dependencies (docs/design.md).
JOB_ONLY_PACKAGES = {"polars", "catboost", "numerapi", "pandas", "pyarrow", "scipy"}
# catboost's plotting-only dependencies, excluded from the job (pyproject.toml).
PLOTTING = ("plotly", "matplotlib", "graphviz")
# Secrets may reach a container only at run time, from Secret Manager.
SECRET_NAMES = ("NUMERAI_PUBLIC_ID", "NUMERAI_SECRET_KEY", "WEBHOOK_TOKEN")
# The dispatcher imports aiohttp and google-cloud-run (~1 s compiled); give it 60 s.
HEALTHZ_DEADLINE = 60.0
HEALTHZ_POLL = 0.5


@dataclass
class Built:
    b: bh.Buildah
    seconds: dict[str, float]


@pytest.fixture(scope="module")
def built() -> Built:
    bh.ensure_tools()
    cache = bh.cache_dir()
    b = bh.Buildah.under(cache)
    # vfs keeps full copies: drop the images the previous run left untagged (~1.7 GB).
    b.run("rmi", "--prune", check=False)
    seconds: dict[str, float] = {}
    started = time.monotonic()
    base = bh.ensure_standin(b, cache)
    seconds["stand-in base"] = time.monotonic() - started
    seconds["dispatcher"] = bh.build(b, "Dockerfile.dispatcher", DISPATCHER_TAG, base)
    seconds["job"] = bh.build(b, "Dockerfile.job", JOB_TAG, base)
    report = {
        "build_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "image_size": {tag: b.image_size(tag) for tag in (base, DISPATCHER_TAG, JOB_TAG)},
    }
    (cache / "report.json").write_text(json.dumps(report, indent=2))
    print("\nimage build report:", json.dumps(report, indent=2))
    return Built(b, seconds)


@pytest.fixture(scope="module")
def job_ctr(built: Built) -> Iterator[str]:
    yield from _container(built.b, JOB_TAG)


@pytest.fixture(scope="module")
def dispatcher_ctr(built: Built) -> Iterator[str]:
    yield from _container(built.b, DISPATCHER_TAG)


def _container(b: bh.Buildah, tag: str) -> Iterator[str]:
    name = b.run("from", "--pull=never", tag).stdout.strip()
    try:
        yield name
    finally:
        b.run("rm", name, check=False)


def _run(b: bh.Buildah, ctr: str, *cmd: str, env: dict[str, str] | None = None):
    args = ["run", "--isolation=chroot"]
    for key, value in (env or {}).items():
        args.append(f"--env={key}={value}")
    return b.run(*args, ctr, "--", *cmd, check=False)


def test_job_help_runs_as_non_root(built: Built, job_ctr: str) -> None:
    proc = _run(built.b, job_ctr, "python", "-m", "job", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage" in proc.stdout.lower() and "--model-id" in proc.stdout
    who = _run(built.b, job_ctr, "id", "-u")
    assert who.stdout.strip() == RUNTIME_UID
    # The dataset cache must be writable by that user (the source tree is not).
    cache = _run(built.b, job_ctr, "sh", "-c",
                 'mkdir -p "$NUMERAI_DATA_DIR" && test -w "$NUMERAI_DATA_DIR" && '
                 "! test -w /app/job")
    assert cache.returncode == 0, cache.stderr


def test_job_image_has_its_dependencies(built: Built, job_ctr: str) -> None:
    proc = _run(built.b, job_ctr, "python", "-c",
                "import catboost, polars, numerapi, pyarrow, google.cloud.secretmanager")
    assert proc.returncode == 0, proc.stderr


def test_job_image_runs_model_uploads_without_plotting_libraries(
    built: Built, job_ctr: str
) -> None:
    """What Model-Upload pickles use is in (docs/model-uploads.md); catboost's plotting
    libraries are not, and catboost still fits and predicts without them."""
    script = (
        "import importlib.util, catboost, lightgbm, sklearn, xgboost, numpy as np; "
        f"missing = [m for m in {PLOTTING!r} if importlib.util.find_spec(m)]; "
        "assert not missing, missing; "
        "x = np.random.default_rng(0).random((200, 4)); "
        "m = catboost.CatBoostRegressor(iterations=5, verbose=0, allow_writing_files=False); "
        "print(m.fit(x, x[:, 0]).predict(x[:3]).shape, lightgbm.__version__, "
        "sklearn.__version__, xgboost.__version__)"
    )
    proc = _run(built.b, job_ctr, "python", "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["(3,)", "4.6.0", "1.6.1", "3.0.2"]


def test_dispatcher_image_lacks_job_dependencies(built: Built, dispatcher_ctr: str) -> None:
    proc = _run(built.b, dispatcher_ctr, "python", "-c",
                "import importlib.metadata as m, json; "
                "print(json.dumps(sorted(d.metadata['Name'].lower() for d in m.distributions())))")
    assert proc.returncode == 0, proc.stderr
    installed = set(json.loads(proc.stdout))
    assert {"aiohttp", "google-cloud-run"} <= installed
    assert not installed & JOB_ONLY_PACKAGES
    assert _run(built.b, dispatcher_ctr, "test", "-e", "/app/job").returncode != 0


def test_bytecode_compiled_at_build(built: Built, dispatcher_ctr: str, job_ctr: str) -> None:
    """No recompiling at every cold start: dependencies and our source ship .pyc files."""
    for ctr, package, module in ((dispatcher_ctr, "aiohttp", "dispatcher"),
                                 (job_ctr, "polars", "job")):
        proc = _run(built.b, ctr, "python", "-c",
                    "import pathlib, sys; "
                    f"deps = any(pathlib.Path('/app/.venv/lib').glob('python3*/site-packages/"
                    f"{package}/__pycache__/*.pyc')); "
                    f"ours = any(pathlib.Path('/app/{module}/__pycache__').glob('*.pyc')); "
                    "sys.exit(0 if deps and ours else 1)")
        assert proc.returncode == 0, (module, proc.stderr)


@pytest.mark.parametrize(
    ("container", "modules", "at_least"),
    [
        ("job_ctr", "job.runner, predictors.pred1.predictor, catboost", 500),
        ("dispatcher_ctr", "dispatcher.app, dispatcher.cloudrun, google.cloud.run_v2", 300),
    ],
)
def test_images_load_their_bytecode_without_recompiling(
    built: Built, request: pytest.FixtureRequest, container: str, modules: str, at_least: int
) -> None:
    """Every module an image imports comes from a .pyc that is used as it is: none stale
    (timestamp .pyc files went stale when the venv was copied between stages, which
    rounds mtimes; the Dockerfiles compile with unchecked hashes)."""
    ctr = request.getfixturevalue(container)
    proc = _run(built.b, ctr, "python", "-v", "-c", f"import {modules}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    stale = [line for line in proc.stderr.splitlines() if "bytecode is stale" in line]
    assert stale == [], f"{len(stale)} stale, e.g. {stale[:3]}"
    assert proc.stderr.count("# code object from") > at_least  # they did come from .pyc


def test_images_run_as_non_root_without_secrets(built: Built) -> None:
    for tag, module in ((DISPATCHER_TAG, "dispatcher"), (JOB_TAG, "job")):
        config = built.b.config(tag)["OCIv1"]["config"]
        assert config["User"].split(":")[0] == RUNTIME_UID
        env = dict(item.split("=", 1) for item in config.get("Env", []))
        assert not set(env) & set(SECRET_NAMES)
        assert env.get("PYTHONDONTWRITEBYTECODE", "") in ("", "0")
        assert config["Cmd"] == ["python", "-m", module]
        history = json.dumps(built.b.config(tag)["History"])
        assert not any(f"{name}=" in history for name in SECRET_NAMES)


def test_dispatcher_serves_healthz_on_port(built: Built, dispatcher_ctr: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        "PORT": str(port),
        "WEBHOOK_TOKEN": "image-test-token",
        "GOOGLE_CLOUD_PROJECT": "image-test",
        "CLOUD_RUN_REGION": "europe-west1",
        # Anonymous credentials against a closed port: /healthz must not need the API.
        "CLOUD_RUN_API_ENDPOINT": "http://127.0.0.1:9",
        "LOG_FORMAT": "json",
    }
    argv = built.b.argv("run", "--isolation=chroot",
                        *(f"--env={k}={v}" for k, v in env.items()),
                        dispatcher_ctr, "--", "python", "-m", "dispatcher")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    started = time.monotonic()
    status = None
    try:
        while time.monotonic() - started < HEALTHZ_DEADLINE and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    status = r.status
                    break
            except OSError:
                time.sleep(HEALTHZ_POLL)
        ready = time.monotonic() - started
    finally:
        # Our own process group only (buildah run and the dispatcher under it).
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
    assert status == 200, output[-3000:]
    print(f"\ndispatcher container answered /healthz {ready:.1f} s after start")
    assert "image-test-token" not in output
    # The image has all the fast RunJob path needs (dispatcher/runjob.py falls back, with
    # this warning, when e.g. google-auth's urllib3 transport cannot be imported).
    for fallback in ("RunJob fast path unavailable", "RunJob goes through JobsClient.run_job"):
        assert fallback not in output, output[-3000:]


def test_job_container_start_up(
    built: Built, job_ctr: str, fake_numerai, pred1_models: dict, tmp_path
) -> None:
    """A real dry run in the image against the fake Numerai on the host; the start-up
    figures are printed and kept in report.json (measured, not asserted)."""
    folder = tmp_path / "mount"
    job_startup.prepare_mount(folder, pred1_models["medium"], MODEL_A)
    env = {
        "NUMERAI_API_URL": fake_numerai.url,
        "NUMERAI_MODELS_FILE": f"{job_startup.MOUNT}/models.toml",
        "NUMERAI_MODEL_ID": "all",
        "NUMERAI_DRY_RUN": "1",
        "LOG_FORMAT": "json",
    }

    report = job_startup.measure(built.b, job_ctr, folder, env)

    assert report["last event"] == ["dry_run"] * 2 * job_startup.RUNS
    assert report["first log line"].startswith("round 842:")
    print("\njob container start-up:", json.dumps(report, indent=2))
    path = bh.cache_dir() / "report.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**saved, "job_startup": report}, indent=2))
