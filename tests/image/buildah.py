"""Build and run the two images with buildah, on a machine with no Docker and no registry.

docs/design.md "Containers": buildah (Debian package) builds and runs images as root with
``--storage-driver vfs --isolation chroot``; base images cannot be pulled, so a
stand-in for ``python:3.11-slim`` is made with debootstrap (Debian bookworm, whose
python3 is 3.11 like the official image) and cached as a rootfs tarball.

The stand-in provides what the Dockerfiles expect of the official image: ``python`` on
PATH, pip usable without PEP 668's "externally managed" refusal, CA certificates,
``useradd``. Inside a build, uv/pip reach the package index through this machine's
TLS-inspecting proxy: its CA bundle is mounted read-only for RUN steps and named by
the BUILD_CA_BUNDLE build argument (a path, nothing secret, not kept in the image).

Used by tests/image/test_images.py (``make image-test``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE_ENV = "NUMERAI_IMAGE_CACHE"
DEFAULT_CACHE = REPO / "build" / "image-test"
STANDIN_TAG = "localhost/numerai-standin-python:3.11"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# python3-pip: the Dockerfiles install uv with pip, as on the official image.
STANDIN_PACKAGES = ("python3", "python3-pip", "ca-certificates")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Where the host bundle appears inside RUN steps of a build.
BUILD_CA_MOUNT = "/run/build-ca/ca-certificates.crt"
APT_PACKAGES = ("buildah", "debootstrap")


@dataclass(frozen=True)
class Buildah:
    root: Path
    runroot: Path

    @classmethod
    def under(cls, cache: Path) -> Buildah:
        return cls(root=cache / "storage", runroot=cache / "run")

    def argv(self, *args: str) -> list[str]:
        return [
            "buildah",
            "--storage-driver=vfs",
            f"--root={self.root}",
            f"--runroot={self.runroot}",
            *args,
        ]

    def run(
        self, *args: str, check: bool = True, capture: bool = True
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(*args), capture_output=capture, text=True, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"buildah {' '.join(args[:3])} failed ({proc.returncode}):\n"
                f"{(proc.stdout or '')[-3000:]}\n{(proc.stderr or '')[-3000:]}"
            )
        return proc

    def has_image(self, tag: str) -> bool:
        return self.run("inspect", "--type=image", tag, check=False).returncode == 0

    def image_size(self, tag: str) -> str:
        """Uncompressed size as buildah reports it (e.g. "267 MB")."""
        listing = json.loads(self.run("images", "--json", tag).stdout)
        return str(listing[0]["size"])

    def config(self, tag: str) -> dict:
        return json.loads(self.run("inspect", "--type=image", tag).stdout)


def cache_dir() -> Path:
    path = Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
    path.mkdir(parents=True, exist_ok=True)
    return path


def ensure_tools() -> None:
    """apt-get install buildah and debootstrap if missing (we are root here and in CI)."""
    missing = [tool for tool in APT_PACKAGES if shutil.which(tool) is None]
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        check=True,
        env=env,
        capture_output=True,
    )


def standin_rootfs(cache: Path) -> Path:
    """The debootstrapped rootfs tarball, made once and cached."""
    tarball = cache / f"standin-{DEBIAN_SUITE}-python3.tar"
    if tarball.exists():
        return tarball
    rootfs = cache / "rootfs"
    if rootfs.exists():
        shutil.rmtree(rootfs)
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(STANDIN_PACKAGES)}",
            DEBIAN_SUITE,
            str(rootfs),
            DEBIAN_MIRROR,
        ],
        check=True,
        capture_output=True,
    )
    # Like the official image: `python` on PATH, and pip allowed to install (that image
    # has no EXTERNALLY-MANAGED marker), no apt lists or caches.
    (rootfs / "usr/local/bin").mkdir(parents=True, exist_ok=True)
    (rootfs / "usr/local/bin/python").symlink_to("/usr/bin/python3")
    for marker in (rootfs / "usr/lib").glob("python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        shutil.rmtree(rootfs / junk, ignore_errors=True)
    partial = tarball.with_suffix(".partial")
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
    partial.rename(tarball)
    shutil.rmtree(rootfs)
    return tarball


def ensure_standin(b: Buildah, cache: Path) -> str:
    if b.has_image(STANDIN_TAG):
        return STANDIN_TAG
    tarball = standin_rootfs(cache)
    context = cache / "standin-context"
    context.mkdir(exist_ok=True)
    target = context / tarball.name
    if not target.exists():
        os.link(tarball, target)
    (context / "Containerfile").write_text(
        f"FROM scratch\nADD {tarball.name} /\nCMD [\"python\"]\n", encoding="utf-8"
    )
    b.run(
        "bud",
        "--isolation=chroot",
        "--pull=never",
        f"--tag={STANDIN_TAG}",
        "--file=Containerfile",
        str(context),
    )
    return STANDIN_TAG


def build(b: Buildah, dockerfile: str, tag: str, base: str) -> float:
    """Build one image from the repository; returns the seconds it took."""
    args = [
        "bud",
        "--isolation=chroot",
        "--pull=never",
        f"--file={REPO / dockerfile}",
        f"--tag={tag}",
        f"--build-arg=BASE_IMAGE={base}",
    ]
    if HOST_CA_BUNDLE.exists():
        args += [
            f"--volume={HOST_CA_BUNDLE}:{BUILD_CA_MOUNT}:ro",
            f"--build-arg=BUILD_CA_BUNDLE={BUILD_CA_MOUNT}",
        ]
    started = time.monotonic()
    b.run(*args, str(REPO))
    return time.monotonic() - started
