"""The monitoring commands `make alerts` and `make alerts-off` build, replayed with the
REAL installed gcloud.

The verbs run against the recording stand-in (which keeps each policy file's content);
every monitoring command is then run by the real gcloud, pointed at FakeCloudRun as its
proxy. The fake has no Monitoring API, so each command ends in NOT_FOUND, but only after
gcloud has parsed its flags and the policy file into Cloud Monitoring's messages (a
field it does not know is an error there) and sent the request, which the fake records:
that request is what Cloud Monitoring would receive.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from fakes.cloudrun import FakeCloudRun
from fakes.gcloud import gcloud_env, gcloud_path
from tests.deploy.conftest import PROJECT, REGION, VERB_TIMEOUT, FakeGcloud

pytestmark = pytest.mark.skipif(gcloud_path() is None, reason="gcloud is not installed")

MONITORING_HOST = "monitoring.fake.test"
V3 = f"/v3/projects/{PROJECT}"


def _replay(argv: list[str], files: dict[str, str], fake: FakeCloudRun, scratch: Path) -> None:
    args = []
    for arg in argv:
        if arg.startswith("--policy-from-file="):
            path = scratch / "policy.json"
            path.write_text(files[arg.split("=", 1)[1]])
            arg = f"--policy-from-file={path}"
        args.append(arg)
    env = gcloud_env(fake, scratch)
    env["CLOUDSDK_API_ENDPOINT_OVERRIDES_MONITORING"] = f"http://{MONITORING_HOST}/"
    proc = subprocess.run([str(gcloud_path()), *args], env=env, capture_output=True, text=True,
                          timeout=VERB_TIMEOUT, check=False)
    # Parsed and sent: the fake's "no route" is the only complaint.
    assert "fake: no route for" in proc.stderr, proc.stderr


def _one_of_each(commands: list[list[str]]) -> list[list[str]]:
    """Each kind of command once (gcloud takes seconds a call here), but both policies'
    creates: their files differ."""
    kept, seen = [], set()
    for argv in commands:
        kind = (argv[2], argv[3])
        if kind == ("policies", "create") or kind not in seen:
            kept.append(argv)
            seen.add(kind)
    return kept


def test_gcloud_sends_the_intended_channels_and_policies(
    gcloud: FakeGcloud, tmp_path: Path
) -> None:
    env = {"PROJECT": PROJECT, "REGION": REGION}
    assert gcloud.ops("alerts", EMAIL="me@example.com", **env).code == 0
    assert gcloud.ops("alerts", EMAIL="you@example.com", **env).code == 0  # updates
    assert gcloud.ops("alerts-off", **env).code == 0
    commands = _one_of_each([a for a in gcloud.argvs() if a[1:2] == ["monitoring"]])
    assert sorted({(a[2], a[3]) for a in commands}) == [
        ("channels", "create"), ("channels", "delete"), ("channels", "list"),
        ("policies", "create"), ("policies", "delete"), ("policies", "list"),
        ("policies", "update")]
    files = gcloud.load()["files_read"]

    with FakeCloudRun(project=PROJECT, region=REGION) as fake:
        for argv in commands:
            _replay(argv, files, fake, tmp_path)
        sent = [r for r in fake.requests if r.host == MONITORING_HOST]
        assert fake.foreign_requests == []

    methods = {"list": "GET", "create": "POST", "update": "PATCH", "delete": "DELETE"}
    collections = {"policies": "alertPolicies", "channels": "notificationChannels"}
    assert [(r.method, r.path.split("/")[4]) for r in sent] == [
        (methods[a[3]], collections[a[2]]) for a in commands]
    # Each policy file reached the API whole: what gcloud sent is the file, field for field.
    for argv, request in zip(commands, sent, strict=True):
        policy_file = [a.split("=", 1)[1] for a in argv if a.startswith("--policy-from-file=")]
        if policy_file:
            body = json.loads(files[policy_file[0]])
            assert request.json() == body
            assert body["alertStrategy"]["notificationRateLimit"] == {"period": "300s"}
            assert "conditionMatchedLog" in body["conditions"][0]
    (channel,) = [r.json() for r in sent if r.method == "POST" and "Channels" in r.path]
    assert channel == {
        "type": "email", "displayName": "numerai-cloudrun: me@example.com",
        "description": "Alerts of numerai-cloudrun (make alerts)",
        "labels": {"email_address": "me@example.com"}, "userLabels": {"numerai-cloudrun": "email"}}
