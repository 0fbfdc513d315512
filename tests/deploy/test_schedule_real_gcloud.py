"""The scheduler commands ops builds, replayed with the REAL installed gcloud.

``make schedule`` runs against the recording stand-in (which records each argv and the
body file's content); the create and update commands are then run by the real gcloud,
pointed at FakeCloudRun as its proxy. The fake has no Cloud Scheduler API, so the
command ends in NOT_FOUND, but only after gcloud has parsed every flag and sent its
request, which the fake records: that request is what Cloud Scheduler would store.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from fakes.cloudrun import FakeCloudRun
from fakes.gcloud import gcloud_env, gcloud_path
from tests.deploy.conftest import PROJECT, REGION, VERB_TIMEOUT, FakeGcloud

pytestmark = pytest.mark.skipif(gcloud_path() is None, reason="gcloud is not installed")

SCHEDULER_SA = f"numerai-scheduler@{PROJECT}.iam.gserviceaccount.com"
JOBS_PATH = f"/v1/projects/{PROJECT}/locations/{REGION}/jobs"


def _replay(argv: list[str], body: str, fake: FakeCloudRun, scratch: Path) -> None:
    body_file = scratch / "body.json"
    body_file.write_text(body)
    argv = [f"--message-body-from-file={body_file}"
            if a.startswith("--message-body-from-file=") else a for a in argv]
    env = gcloud_env(fake, scratch)
    env["CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER"] = "http://cloudscheduler.fake.test/"
    proc = subprocess.run([str(gcloud_path()), *argv], env=env, capture_output=True, text=True,
                          timeout=VERB_TIMEOUT, check=False)
    # Parsed and sent: the fake's "no route" is the only complaint.
    assert "fake: no route for" in proc.stderr, proc.stderr


def test_gcloud_turns_the_commands_into_the_intended_scheduler_job(
    gcloud: FakeGcloud, tmp_path: Path
) -> None:
    assert gcloud.ops("schedule", PROJECT=PROJECT, REGION=REGION).code == 0
    assert gcloud.ops("schedule", PROJECT=PROJECT, REGION=REGION).code == 0  # the update
    commands = [a for a in gcloud.argvs() if a[:2] == ["scheduler", "jobs"] and a[3:4] == ["http"]]
    assert [a[2] for a in commands] == ["create", "update"]
    body = gcloud.load()["scheduler_jobs"][f"{REGION}/numerai-job-schedule"]["body"]

    with FakeCloudRun(project=PROJECT, region=REGION) as fake:
        for argv in commands:
            _replay(argv, body, fake, tmp_path)
        sent = [r for r in fake.requests if r.host == "cloudscheduler.fake.test"]
        assert fake.foreign_requests == []

    create, update = sent
    assert (create.method, create.path) == ("POST", JOBS_PATH)
    assert (update.method, update.path) == ("PATCH", f"{JOBS_PATH}/numerai-job-schedule")
    for request in (create, update):
        job = request.json()
        target = job["httpTarget"]
        assert target["uri"] == (f"https://run.googleapis.com/v2/projects/{PROJECT}/locations/"
                                 f"{REGION}/jobs/numerai-job:run")
        assert target["httpMethod"] == "POST"
        assert target["headers"] == {"Content-Type": "application/json"}
        assert target["oauthToken"] == {
            "serviceAccountEmail": SCHEDULER_SA,
            "scope": "https://www.googleapis.com/auth/cloud-platform",
        }
        assert json.loads(base64.b64decode(target["body"])) == json.loads(body)
        assert job["schedule"] == "15 13 * * 2-6"
        assert job["timeZone"] == "Etc/UTC"
        assert job["retryConfig"]["retryCount"] == 2
        assert job["retryConfig"]["minBackoffDuration"] == "60s"
    # The update changes exactly the fields the create set (nothing else is cleared).
    mask = set(update.query["updateMask"][0].split(","))
    assert {"schedule", "timeZone", "httpTarget.uri", "httpTarget.body",
            "httpTarget.oauthToken.serviceAccountEmail", "retryConfig.retryCount"} <= mask
