"""make setup / python -m ops setup against the recording gcloud."""

from __future__ import annotations

import fcntl
import os
import select
import subprocess
import sys
import termios
import time

from tests.deploy.conftest import (
    PROJECT,
    PUBLIC_ID,
    REGION,
    REPO,
    SECRET_KEY,
    VERB_TIMEOUT,
    FakeGcloud,
    iam_grants,
    mutating,
)

JOB_SA = f"numerai-job@{PROJECT}.iam.gserviceaccount.com"
DISPATCHER_SA = f"numerai-dispatcher@{PROJECT}.iam.gserviceaccount.com"
BUILD_SA = f"numerai-build@{PROJECT}.iam.gserviceaccount.com"
KEYS = {"NUMERAI_PUBLIC_ID": PUBLIC_ID, "NUMERAI_SECRET_KEY": SECRET_KEY}


def _setup(gcloud: FakeGcloud, **env: str):
    return gcloud.ops("setup", PROJECT=PROJECT, REGION=REGION, **{**KEYS, **env})




def test_first_setup_creates_everything_with_narrow_roles(gcloud: FakeGcloud) -> None:
    run = _setup(gcloud)
    assert run.code == 0, run.output
    argvs = gcloud.argvs()
    state = gcloud.load()

    assert set(state["apis"]) >= {
        "run.googleapis.com",
        "artifactregistry.googleapis.com",
        "cloudbuild.googleapis.com",
        "secretmanager.googleapis.com",
    }
    assert ["artifacts", "repositories", "create", "numerai", "--repository-format=docker",
            f"--location={REGION}", "--description=numerai-cloudrun images",
            f"--project={PROJECT}"] in argvs
    assert sorted(state["service_accounts"]) == sorted([JOB_SA, DISPATCHER_SA, BUILD_SA])
    assert state["secrets"]["numerai-public-id"] == [PUBLIC_ID]
    assert state["secrets"]["numerai-secret"] == [SECRET_KEY]

    grants = set(iam_grants(argvs))
    assert grants == {
        ("secrets", "numerai-public-id", f"serviceAccount:{JOB_SA}",
         "roles/secretmanager.secretAccessor"),
        ("secrets", "numerai-secret", f"serviceAccount:{JOB_SA}",
         "roles/secretmanager.secretAccessor"),
        ("secrets", "numerai-webhook-token", f"serviceAccount:{DISPATCHER_SA}",
         "roles/secretmanager.secretAccessor"),
        ("projects", PROJECT, f"serviceAccount:{BUILD_SA}", "roles/run.developer"),
        ("projects", PROJECT, f"serviceAccount:{BUILD_SA}", "roles/logging.logWriter"),
        ("iam service-accounts", JOB_SA, f"serviceAccount:{BUILD_SA}",
         "roles/iam.serviceAccountUser"),
        ("iam service-accounts", DISPATCHER_SA, f"serviceAccount:{BUILD_SA}",
         "roles/iam.serviceAccountUser"),
        ("artifacts repositories", "numerai", f"serviceAccount:{BUILD_SA}",
         "roles/artifactregistry.writer"),
        ("storage buckets", f"gs://{PROJECT}_cloudbuild", f"serviceAccount:{BUILD_SA}",
         "roles/storage.objectViewer"),
    }
    roles = {g[3] for g in grants}
    # No project-wide Cloud Run Admin for the build: it can set no IAM anywhere.
    assert not roles & {"roles/owner", "roles/editor", "roles/run.admin"}
    # Secret access is granted per secret, never on the project.
    assert not [g for g in grants if g[0] == "projects" and "secretmanager" in g[3]]
    # The job's account can read exactly the two Numerai keys, the dispatcher's the token.
    assert {g[1] for g in grants if g[2] == f"serviceAccount:{JOB_SA}"} == {
        "numerai-public-id", "numerai-secret"}
    assert {g[1] for g in grants if g[2] == f"serviceAccount:{DISPATCHER_SA}"} == {
        "numerai-webhook-token"}
    assert "setup: " in run.stdout and "change(s)" in run.stdout
    # Cloud Run's request log of the dispatcher is not stored where it carries the token.
    [exclusion] = state["sinks"]["_Default"]["exclusions"]
    assert exclusion == {
        "name": "numerai-webhook-token-in-urls",
        "filter": 'LOG_ID("run.googleapis.com/requests") AND resource.type="cloud_run_revision" '
        'AND resource.labels.service_name="numerai-dispatcher" '
        'AND httpRequest.requestUrl:"token="',
    }


def test_secrets_only_through_stdin_never_on_argv_or_output(gcloud: FakeGcloud) -> None:
    run = _setup(gcloud)
    assert run.code == 0, run.output
    token = gcloud.load()["secrets"]["numerai-webhook-token"][0]
    # token_urlsafe(32): 43 URL-safe characters.
    assert len(token) == 43 and token.replace("-", "").replace("_", "").isalnum()
    for value in (PUBLIC_ID, SECRET_KEY, token):
        assert value not in run.output
        for call in gcloud.calls():
            assert value not in " ".join(call["argv"])
    creates = [c for c in gcloud.calls() if c["argv"][:2] == ["secrets", "create"]]
    assert {c["argv"][2]: c["stdin"] for c in creates} == {
        "numerai-public-id": PUBLIC_ID, "numerai-secret": SECRET_KEY,
        "numerai-webhook-token": token}
    assert all("--data-file=-" in c["argv"] for c in creates)
    # The printed commands show where the value comes from, not the value.
    assert run.stderr.count("< <from stdin>") == 3


def test_second_setup_changes_nothing(gcloud: FakeGcloud) -> None:
    assert _setup(gcloud).code == 0
    before = gcloud.load()
    gcloud.clear()
    run = _setup(gcloud)
    assert run.code == 0, run.output
    assert mutating(gcloud.argvs()) == []
    assert gcloud.load() == before
    assert "nothing to change" in run.stdout


def test_second_setup_without_keys_keeps_secrets_and_asks_nothing(gcloud: FakeGcloud) -> None:
    assert _setup(gcloud).code == 0
    gcloud.clear()
    run = gcloud.ops("setup", PROJECT=PROJECT, REGION=REGION)
    assert run.code == 0, run.output
    assert mutating(gcloud.argvs()) == []
    # Nothing to compare with, so the stored keys are not even read.
    assert not [a for a in gcloud.argvs() if a[:3] == ["secrets", "versions", "access"]]


def test_changed_key_adds_one_version(gcloud: FakeGcloud) -> None:
    assert _setup(gcloud).code == 0
    gcloud.clear()
    new_key = "N" * 64
    run = _setup(gcloud, NUMERAI_SECRET_KEY=new_key)
    assert run.code == 0, run.output
    assert mutating(gcloud.argvs()) == [
        ["secrets", "versions", "add", "numerai-secret", "--data-file=-", f"--project={PROJECT}"]
    ]
    assert gcloud.load()["secrets"]["numerai-secret"] == [SECRET_KEY, new_key]
    assert new_key not in run.output


def test_rotate_webhook_token_now_points_to_make_rotate_token(gcloud: FakeGcloud) -> None:
    run = _setup(gcloud, ROTATE_WEBHOOK_TOKEN="1")
    assert run.code == 2
    assert "make rotate-token" in run.stderr
    assert gcloud.calls() == []


def test_an_older_project_loses_the_builds_cloud_run_admin(gcloud: FakeGcloud) -> None:
    assert _setup(gcloud).code == 0
    state = gcloud.load()  # what an earlier version of setup granted
    state["policies"][f"projects/{PROJECT}"]["bindings"].append(
        {"role": "roles/run.admin", "members": [f"serviceAccount:{BUILD_SA}"]})
    gcloud.save(state)
    gcloud.clear()

    run = _setup(gcloud)

    assert run.code == 0, run.output
    assert mutating(gcloud.argvs()) == [[
        "projects", "remove-iam-policy-binding", PROJECT, "--condition=None",
        f"--member=serviceAccount:{BUILD_SA}", "--role=roles/run.admin",
    ]]
    assert "removed: more than the build needs" in run.stdout


def test_an_exclusion_with_another_filter_is_updated(gcloud: FakeGcloud) -> None:
    assert _setup(gcloud).code == 0
    gcloud.clear()
    run = _setup(gcloud, SERVICE_NAME="my-dispatcher")
    assert run.code == 0, run.output
    [update] = [a for a in mutating(gcloud.argvs()) if a[:3] == ["logging", "sinks", "update"]]
    assert update[4].startswith("--update-exclusion=name=numerai-webhook-token-in-urls,filter=")
    assert 'service_name="my-dispatcher"' in update[4]
    assert len(gcloud.load()["sinks"]["_Default"]["exclusions"]) == 1


def test_missing_keys_without_terminal_is_a_config_error(gcloud: FakeGcloud) -> None:
    run = gcloud.ops("setup", PROJECT=PROJECT, REGION=REGION)
    assert run.code == 2
    assert "NUMERAI_PUBLIC_ID" in run.stderr and "NUMERAI_SECRET_KEY" in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "numerai-public-id" not in gcloud.load().get("secrets", {})


def test_malformed_key_is_refused_without_echoing_it(gcloud: FakeGcloud) -> None:
    run = _setup(gcloud, NUMERAI_SECRET_KEY="my secret key")
    assert run.code == 2
    assert "NUMERAI_SECRET_KEY" in run.stderr
    assert "my secret key" not in run.output


def test_dry_run_runs_no_gcloud(gcloud: FakeGcloud) -> None:
    run = _setup(gcloud, DRY_RUN="1")
    assert run.code == 0, run.output
    assert gcloud.calls() == []
    assert "[dry run] gcloud secrets create numerai-secret" in run.stderr
    assert "--role=roles/secretmanager.secretAccessor" in run.stderr
    for value in (PUBLIC_ID, SECRET_KEY):
        assert value not in run.output


def test_dry_run_needs_project_explicitly(gcloud: FakeGcloud) -> None:
    run = gcloud.ops("setup", DRY_RUN="1", **KEYS)
    assert run.code == 2
    assert "PROJECT" in run.stderr
    assert gcloud.calls() == []


def test_project_and_region_from_gcloud_config(gcloud: FakeGcloud) -> None:
    gcloud.update(config={"project": PROJECT, "run/region": "asia-east1"})
    run = gcloud.ops("setup", **KEYS)
    assert run.code == 0, run.output
    assert ["config", "get-value", "project"] in gcloud.argvs()
    assert "--location=asia-east1" in gcloud.argvs()[gcloud.argvs().index(
        ["artifacts", "repositories", "describe", "numerai", "--location=asia-east1",
         f"--project={PROJECT}"])]


def test_no_project_anywhere_names_the_variable(gcloud: FakeGcloud) -> None:
    run = gcloud.ops("setup", **KEYS)
    assert run.code == 2
    assert "PROJECT is not set" in run.stderr


def test_permission_denied_on_describe_is_a_failure_not_missing(gcloud: FakeGcloud) -> None:
    gcloud.update(fail={"iam service-accounts describe": {
        "code": 1,
        "stderr": "ERROR: (gcloud) PERMISSION_DENIED: caller lacks iam.serviceAccounts.get",
        "times": 99}})
    run = _setup(gcloud)
    assert run.code == 1
    assert "PERMISSION_DENIED" in run.stderr
    assert not [a for a in gcloud.argvs() if a[:3] == ["iam", "service-accounts", "create"]]


def test_binding_retried_while_new_account_propagates(gcloud: FakeGcloud) -> None:
    gcloud.update(fail={"secrets add-iam-policy-binding numerai-public-id": {
        "code": 1, "stderr": f"ERROR: INVALID_ARGUMENT: Service account {JOB_SA} does not exist.",
        "times": 2}})
    run = _setup(gcloud)
    assert run.code == 0, run.output
    tries = [a for a in gcloud.argvs()
             if a[:3] == ["secrets", "add-iam-policy-binding", "numerai-public-id"]]
    assert len(tries) == 3
    assert run.stderr.count("transient: retrying") == 2


def test_binding_gives_up_after_bounded_retries(gcloud: FakeGcloud) -> None:
    gcloud.update(fail={"secrets add-iam-policy-binding numerai-public-id": {
        "code": 1, "stderr": "ERROR: INVALID_ARGUMENT: Service account x does not exist.",
        "times": 99}})
    run = _setup(gcloud)
    assert run.code == 1
    tries = [a for a in gcloud.argvs()
             if a[:3] == ["secrets", "add-iam-policy-binding", "numerai-public-id"]]
    assert len(tries) == 5  # the first try and DEFAULT_BACKOFF's four retries


def test_make_setup_runs_the_same(gcloud: FakeGcloud) -> None:
    run = gcloud.make("setup", PROJECT=PROJECT, REGION=REGION, DRY_RUN="1")
    assert run.code == 0, run.output
    assert gcloud.calls() == []
    assert "[dry run] gcloud services enable" in run.stderr


def test_hidden_prompt_on_a_terminal(gcloud: FakeGcloud) -> None:
    """With a terminal and no variables, setup asks (getpass: no echo) and stores the answers."""
    def take_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    main, child = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ops", "setup"], cwd=REPO,
        env=gcloud.env(PROJECT=PROJECT, REGION=REGION),
        stdin=child, stdout=child, stderr=child, preexec_fn=take_terminal,
    )
    os.close(child)
    seen = b""
    answers = [PUBLIC_ID, SECRET_KEY]
    answered = 0
    deadline = time.monotonic() + VERB_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
                # Answer each prompt once it is shown (getpass flushes earlier input).
                if seen.count(b"(input hidden):") > answered and answered < len(answers):
                    os.write(main, answers[answered].encode() + b"\n")
                    answered += 1
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=VERB_TIMEOUT)
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    text = seen.decode(errors="replace")
    assert code == 0, text
    assert "Numerai public id (input hidden):" in text
    assert "Numerai secret key (input hidden):" in text
    assert PUBLIC_ID not in text and SECRET_KEY not in text  # no echo
    secrets = gcloud.load()["secrets"]
    assert secrets["numerai-public-id"] == [PUBLIC_ID]
    assert secrets["numerai-secret"] == [SECRET_KEY]
