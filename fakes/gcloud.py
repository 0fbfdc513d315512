"""Run the real installed ``gcloud`` against ``FakeCloudRun``.

gcloud derives a *regional* host from the Cloud Run endpoint override
(``http://run.fake.test/`` → ``http://europe-west1-run.fake.test/``), so it cannot be
pointed at ``127.0.0.1:PORT`` directly. Instead the fake is gcloud's HTTP proxy: every
request arrives at the fake with an absolute URI, and requests for any other host are
refused and recorded (``fake.foreign_requests``).

gcloud gets a scratch config directory and a minimal environment, so neither the
user's real gcloud configuration nor their credentials are ever used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from fakes.cloudrun import FakeCloudRun
from fakes.googleapi import FAKE_DOMAIN

# A made-up bearer token: gcloud only needs *some* token to skip its auth flow.
FAKE_ACCESS_TOKEN = "fake-access-token-for-tests"
# gcloud starts in about a second here; a hung call must still end the test.
DEFAULT_TIMEOUT = 120.0
# Environment kept from the caller: enough to find and run gcloud's own Python.
PASSTHROUGH_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "CLOUDSDK_PYTHON")


def gcloud_path() -> str | None:
    """The installed gcloud, or None when it is not on PATH."""
    return shutil.which("gcloud")


def gcloud_env(fake: FakeCloudRun, scratch: Path) -> dict[str, str]:
    """The environment that sends every gcloud request to ``fake`` and nowhere else."""
    scratch.mkdir(parents=True, exist_ok=True)
    config = scratch / "gcloud-config"
    config.mkdir(exist_ok=True)
    token_file = scratch / "access-token"
    token_file.write_text(FAKE_ACCESS_TOKEN)
    token_file.chmod(0o600)
    env = {k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ}
    env.update(
        {
            "HOME": str(scratch),
            "CLOUDSDK_CONFIG": str(config),
            "CLOUDSDK_CORE_PROJECT": fake.project,
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
            "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
            "CLOUDSDK_SURVEY_DISABLE_PROMPTS": "true",
            "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(token_file),
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN": f"http://run.{FAKE_DOMAIN}/",
            "CLOUDSDK_PROXY_TYPE": "http",
            "CLOUDSDK_PROXY_ADDRESS": "127.0.0.1",
            "CLOUDSDK_PROXY_PORT": str(fake.port),
        }
    )
    return env


def run_gcloud(
    args: list[str], fake: FakeCloudRun, scratch: Path, timeout: float = DEFAULT_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run ``gcloud *args`` against ``fake``; output captured as text."""
    gcloud = gcloud_path()
    if gcloud is None:
        raise FileNotFoundError("gcloud is not installed (not on PATH)")
    return subprocess.run(
        [gcloud, *args],
        env=gcloud_env(fake, scratch),
        cwd=scratch,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
