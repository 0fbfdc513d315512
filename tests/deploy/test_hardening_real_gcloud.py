"""The commands setup, release and rotate-token build for the hardening, replayed with the
REAL installed gcloud.

Each verb runs first against the recording stand-in; the commands it printed are then
run by the real gcloud, every API pointed at the Cloud Run fake as gcloud's proxy. Where
the fake has no route the command ends in an error, but only after gcloud has parsed
every flag and sent its request, which the fake records: gcloud accepts the command. The
fake serves Cloud Logging's sinks, so the exclusion gcloud sends is checked as stored.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fakes.cloudrun import FakeCloudRun
from fakes.gcloud import gcloud_env, gcloud_path
from ops.setup import TOKEN_EXCLUSION
from tests.deploy.conftest import (
    PROJECT,
    PUBLIC_ID,
    REGION,
    SECRET_KEY,
    VERB_TIMEOUT,
    FakeGcloud,
    write_registry,
)

pytestmark = pytest.mark.skipif(gcloud_path() is None, reason="gcloud is not installed")

BUILD_SA = f"numerai-build@{PROJECT}.iam.gserviceaccount.com"
# What the hardening added to the verbs: the argv prefixes replayed.
NEW_COMMANDS = (
    ("logging", "sinks"),
    ("projects", "remove-iam-policy-binding"),
    ("run", "services", "update"),
    ("run", "services", "describe"),
    ("run", "services", "get-iam-policy"),
    ("run", "services", "add-iam-policy-binding"),
    ("run", "jobs", "add-iam-policy-binding"),
    ("secrets", "versions", "add"),
    ("secrets", "versions", "describe"),
    ("secrets", "versions", "disable"),
)
# gcloud's exit code for a command line it cannot parse.
USAGE_ERROR = 2


def _record(gcloud: FakeGcloud, tmp_path: Path) -> list[dict]:
    """setup (on a project with the build's old role), release, rotate-token start and
    finish, against the stand-in; the calls they made."""
    keys = {"NUMERAI_PUBLIC_ID": PUBLIC_ID, "NUMERAI_SECRET_KEY": SECRET_KEY}
    where = {"PROJECT": PROJECT, "REGION": REGION}
    assert gcloud.ops("setup", **where, **keys).code == 0
    state = gcloud.load()
    state["policies"][f"projects/{PROJECT}"]["bindings"].append(
        {"role": "roles/run.admin", "members": [f"serviceAccount:{BUILD_SA}"]})
    gcloud.save(state)
    assert gcloud.ops("setup", **where, **keys).code == 0
    model = tmp_path / "model.cbm"
    model.write_bytes(b"catboost")
    registry = write_registry(tmp_path / "models.toml", {})
    registry.write_text(
        '[models.alpha]\nid = "11111111-1111-4111-8111-111111111111"\npredictor = "pred1"\n'
        f'[models.alpha.options]\nmodel_path = "{model}"\n')
    models = {"NUMERAI_MODELS_FILE": str(registry)}
    assert gcloud.ops("release", **where, **models).code == 0
    # DRY_RUN-free rotation without Numerai: the registration is tested elsewhere; here
    # only the gcloud side matters, so the rotation is started with a registry of no
    # reachable Numerai and its gcloud calls are kept even though registering fails.
    gcloud.ops("rotate-token", **where, **models, **keys, NUMERAI_API_URL="http://127.0.0.1:9")
    assert gcloud.ops("rotate-token", **where, **models, FINISH="1").code == 0
    return [c for c in gcloud.calls() if any(c["argv"][: len(p)] == list(p)
                                             for p in NEW_COMMANDS)]


def _replay(call: dict, fake: FakeCloudRun, scratch: Path) -> subprocess.CompletedProcess[str]:
    env = gcloud_env(fake, scratch)
    for api in ("LOGGING", "SECRETMANAGER", "CLOUDRESOURCEMANAGER"):
        env[f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}"] = f"http://{api.lower()}.fake.test/"
    return subprocess.run([str(gcloud_path()), *call["argv"]], input=call["stdin"] or None,
                          env=env, capture_output=True, text=True, timeout=VERB_TIMEOUT,
                          check=False)


def test_real_gcloud_accepts_every_new_command(gcloud: FakeGcloud, tmp_path: Path) -> None:
    calls = _record(gcloud, tmp_path)
    kinds = {tuple(c["argv"][:3]) for c in calls}
    assert kinds >= {("logging", "sinks", "update"), ("run", "services", "update"),
                     ("secrets", "versions", "disable"),
                     ("projects", "remove-iam-policy-binding", PROJECT)}
    with FakeCloudRun(project=PROJECT, region=REGION) as fake:
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(
                lambda ic: _replay(ic[1], fake, tmp_path / f"gcloud-{ic[0]}"), enumerate(calls)))
        sent = len(fake.requests)
        exclusions = fake.sinks["_Default"].get("exclusions")

    for call, result in zip(calls, results, strict=True):
        assert result.returncode != USAGE_ERROR, (call["argv"], result.stderr)
        assert "unrecognized arguments" not in result.stderr, (call["argv"], result.stderr)
    assert sent >= len(calls)  # every command was parsed and reached the (fake) API
    # The exclusion arrived as ops meant it: the name, and the filter unmangled.
    [exclusion] = exclusions
    assert exclusion["name"] == TOKEN_EXCLUSION
    assert exclusion["filter"] == (
        'LOG_ID("run.googleapis.com/requests") AND resource.type="cloud_run_revision" '
        'AND resource.labels.service_name="numerai-dispatcher" '
        'AND httpRequest.requestUrl:"token="'
    )
