"""Static checks of the Dockerfiles (the real build is tests/image, `make image-test`)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.deploy.conftest import REPO

SECRET_WORDS = re.compile(r"SECRET|TOKEN|PASSWORD|PUBLIC_ID|API_KEY", re.IGNORECASE)


def _instructions(name: str) -> list[tuple[str, str]]:
    text = (REPO / name).read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


@pytest.mark.parametrize(("name", "extra", "sources"), [
    ("Dockerfile.job", "job", {"common/", "numerai_data/", "job/", "predictors/"}),
    ("Dockerfile.dispatcher", "dispatcher", {"common/", "dispatcher/", "predictors/models.toml"}),
])
def test_dockerfile_shape(name: str, extra: str, sources: set[str]) -> None:
    steps = _instructions(name)
    assert steps[0] == ("ARG", "BASE_IMAGE=python:3.11-slim")
    froms = [rest for kw, rest in steps if kw == "FROM"]
    assert froms == ["${BASE_IMAGE} AS build", "${BASE_IMAGE}"]
    runtime = steps[[i for i, (kw, _) in enumerate(steps) if kw == "FROM"][1]:]
    build = steps[: len(steps) - len(runtime)]

    # Locked install of this image's extra only, before any source is copied.
    sync = [rest for kw, rest in build if kw == "RUN" and "uv sync" in rest]
    assert len(sync) == 1
    for flag in ("--frozen", "--no-dev", f"--extra {extra}", "--no-install-project"):
        assert flag in sync[0]
    # The venv's bytecode is compiled at build: by uv, or with unchecked hashes, which
    # copying the venv into the runtime stage cannot make stale (tests/image checks).
    assert ("--compile-bytecode" in sync[0]
            or "compileall -q -j 0 --invalidation-mode unchecked-hash /app/.venv" in sync[0])
    copies = [rest for kw, rest in build if kw == "COPY"]
    assert copies == ["pyproject.toml uv.lock ./"]

    runtime_copies = {rest.split()[0] for kw, rest in runtime if kw == "COPY"
                      and not rest.startswith("--from")}
    assert runtime_copies == sources
    assert any(kw == "RUN" and "compileall" in rest for kw, rest in runtime)
    user = [rest for kw, rest in runtime if kw == "USER"]
    assert user and not user[-1].startswith(("0", "root"))
    assert [kw for kw, _ in runtime][-2:] == ["USER", "CMD"]
    assert runtime[-1][1] == f'["python", "-m", "{extra}"]'


@pytest.mark.parametrize("name", ["Dockerfile.job", "Dockerfile.dispatcher"])
def test_no_secret_as_arg_or_env(name: str) -> None:
    for kw, rest in _instructions(name):
        if kw in ("ARG", "ENV"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", rest) or [rest.split()[0]]
            assert not [n for n in names if SECRET_WORDS.search(n)], (kw, rest)
        if kw == "ENV":
            assert "PYTHONDONTWRITEBYTECODE=1" not in rest


def test_ignore_files_keep_model_files() -> None:
    for name in (".dockerignore", ".gcloudignore"):
        patterns = [line.strip() for line in (REPO / name).read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
        assert not [p for p in patterns if "cbm" in p or p.startswith("predictors")], name
        assert ".venv" in patterns and ".git" in patterns


def test_ops_is_standard_library_only() -> None:
    """`python3 -m ops` must work before any virtualenv exists (-S: no site-packages)."""
    modules = sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for p in (REPO / "ops").rglob("*.py")
        if p.stem != "__main__"
    )
    assert "ops.smoke.verb" in modules and "ops.numerai" in modules
    code = "import " + ", ".join(modules) + "; import ops.__main__"
    proc = subprocess.run([sys.executable, "-S", "-c", code], cwd=REPO, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_job_image_has_the_openmp_runtime_lightgbm_links() -> None:
    """lightgbm's lib_lightgbm.so needs libgomp.so.1; python:3.11-slim has none (the
    image test imports lightgbm in the built image)."""
    steps = _instructions("Dockerfile.job")
    runtime = steps[[i for i, (kw, _) in enumerate(steps) if kw == "FROM"][1]:]
    installs = [rest for kw, rest in runtime if kw == "RUN" and "apt-get install" in rest]
    assert len(installs) == 1 and "libgomp1" in installs[0].split()
    assert "apt-get clean" in installs[0] and "rm -rf /var/lib/apt/lists/*" in installs[0]
