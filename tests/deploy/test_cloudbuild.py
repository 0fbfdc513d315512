"""cloudbuild.yaml: valid, every substitution defined and used, images built/pushed/deployed."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
import yaml

from ops import iam, release
from ops.settings import DEFAULT_JOB_NAME, DEFAULT_REGION, DEFAULT_SERVICE_NAME
from tests.deploy.conftest import REPO

IMAGE = "${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/%s:$BUILD_ID"
# Cloud Build's own substitutions (no default needed).
BUILTINS = {"PROJECT_ID", "BUILD_ID", "PROJECT_NUMBER", "LOCATION", "COMMIT_SHA", "SHORT_SHA"}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return yaml.safe_load((REPO / "cloudbuild.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def steps(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in config["steps"]}


def _words(step: dict[str, Any]) -> list[str]:
    """A step's command as words, whether args or a bash -c script."""
    args = [str(a) for a in step.get("args", [])]
    if step.get("entrypoint") == "bash":
        return shlex.split(args[-1].replace("\\\n", " "), comments=True)
    return args


def _flags(words: list[str]) -> dict[str, str]:
    flags = {}
    for word in words:
        if word.startswith("--"):
            key, _, value = word.partition("=")
            flags[key] = value
    return flags


def test_every_step_has_a_unique_id(config: dict[str, Any]) -> None:
    ids = [step.get("id") for step in config["steps"]]
    assert all(ids) and len(ids) == len(set(ids))
    for step in config["steps"]:
        for dependency in step.get("waitFor", []):
            assert dependency == "-" or dependency in ids


def test_substitutions_defined_and_used_both_ways(config: dict[str, Any]) -> None:
    text = (REPO / "cloudbuild.yaml").read_text(encoding="utf-8")
    body = text.split("\nsteps:", 1)[1]
    # $$ is a literal dollar for bash; drop those before looking for substitutions.
    body = body.replace("$$", "")
    used = set(re.findall(r"\$\{(_[A-Z0-9_]+)\}", body)) | set(
        re.findall(r"\$(_[A-Z0-9_]+)", body))
    defined = set(config["substitutions"])
    assert used == defined
    assert all(str(v) for v in config["substitutions"].values())
    builtins = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", body))
    assert builtins <= BUILTINS


def test_defaults_agree_with_the_verbs(config: dict[str, Any]) -> None:
    subs = config["substitutions"]
    assert subs["_REGION"] == DEFAULT_REGION
    assert subs["_JOB_NAME"] == DEFAULT_JOB_NAME
    assert subs["_SERVICE_NAME"] == DEFAULT_SERVICE_NAME
    assert subs["_BASE_IMAGE"] == "python:3.11-slim"
    # Whatever `make release` may pass is a substitution here.
    assert set(release.OPTIONAL_SUBSTITUTIONS.values()) <= set(subs)


def test_both_images_built_pushed_and_listed(config, steps) -> None:
    for name, dockerfile in (("job", "Dockerfile.job"), ("dispatcher", "Dockerfile.dispatcher")):
        image = IMAGE % name
        build = _flags(_words(steps[f"build-{name}"]))
        assert build["--file"] == dockerfile
        assert build["--tag"] == image
        assert build["--build-arg"] == "BASE_IMAGE=${_BASE_IMAGE}"
        assert _words(steps[f"push-{name}"]) == ["push", image]
        assert image in config["images"]
    assert steps["deploy-job"]["waitFor"] == ["push-job"]
    assert "push-dispatcher" in steps["deploy-dispatcher"]["waitFor"]


def test_job_deploy_flags(steps) -> None:
    words = _words(steps["deploy-job"])
    assert words[:4] == ["run", "jobs", "deploy", "${_JOB_NAME}"]
    flags = _flags(words)
    assert flags["--image"] == IMAGE % "job"
    assert flags["--region"] == "${_REGION}"
    assert flags["--service-account"] == "${_JOB_SA}@$PROJECT_ID.iam.gserviceaccount.com"
    assert flags["--set-secrets"] == (
        "NUMERAI_PUBLIC_ID=numerai-public-id:latest,NUMERAI_SECRET_KEY=numerai-secret:latest")
    for flag, sub in (("--cpu", "_JOB_CPU"), ("--memory", "_JOB_MEMORY"),
                      ("--task-timeout", "_TASK_TIMEOUT"), ("--max-retries", "_MAX_RETRIES"),
                      ("--tasks", "_TASKS")):
        assert flags[flag] == f"${{{sub}}}"


def test_dispatcher_may_run_the_job_with_overrides_only(steps) -> None:
    words = _words(steps["grant-dispatcher-run"])
    assert words[:4] == ["run", "jobs", "add-iam-policy-binding", "${_JOB_NAME}"]
    flags = _flags(words)
    assert flags["--member"] == (
        "serviceAccount:${_DISPATCHER_SA}@$PROJECT_ID.iam.gserviceaccount.com")
    assert flags["--role"] == iam.JOB_EXECUTOR_WITH_OVERRIDES
    assert iam.JOB_EXECUTOR_WITH_OVERRIDES == "roles/run.jobsExecutorWithOverrides"
    assert steps["grant-dispatcher-run"]["waitFor"] == ["deploy-job"]


def test_dispatcher_deploy_flags(steps) -> None:
    words = _words(steps["deploy-dispatcher"])
    start = words.index("gcloud")
    assert words[start + 1:start + 4] == ["run", "deploy", "${_SERVICE_NAME}"]
    flags = _flags(words)
    assert flags["--image"] == IMAGE % "dispatcher"
    assert flags["--service-account"] == (
        "${_DISPATCHER_SA}@$PROJECT_ID.iam.gserviceaccount.com")
    assert "--allow-unauthenticated" in flags  # Numerai cannot send Google auth
    assert flags["--set-secrets"] == "WEBHOOK_TOKEN=numerai-webhook-token:latest"
    env = dict(pair.split("=", 1) for pair in flags["--set-env-vars"].split(","))
    assert env == {"GOOGLE_CLOUD_PROJECT": "$PROJECT_ID", "CLOUD_RUN_REGION": "${_REGION}",
                   "CLOUD_RUN_JOB": "${_JOB_NAME}"}
    # In-memory dedupe: exactly one instance, enough concurrency for a round's webhooks.
    assert flags["--max-instances"] == "1"
    assert flags["--concurrency"] == "${_DISPATCHER_CONCURRENCY}"
    assert flags["--memory"] == "${_DISPATCHER_MEMORY}"
    assert "--cpu-boost" in flags


def test_webhook_url_printed_without_the_token(steps) -> None:
    script = steps["print-webhook-url"]["args"][-1]
    assert "/pred/<MODEL_ID>?token=<numerai-webhook-token>" in script
    assert "versions access" not in script and "secrets" not in script.replace(
        "numerai-webhook-token", "")


def test_no_secret_value_anywhere(config) -> None:
    text = (REPO / "cloudbuild.yaml").read_text(encoding="utf-8")
    # Secrets are referenced by name through --set-secrets only, never as env values.
    for name in ("NUMERAI_PUBLIC_ID", "NUMERAI_SECRET_KEY", "WEBHOOK_TOKEN"):
        for match in re.finditer(rf"{name}=([^,\s]+)", text):
            assert match.group(1).endswith(":latest"), match.group(0)
    assert "secretEnv" not in text and "availableSecrets" not in text
    assert config["options"]["logging"] == "CLOUD_LOGGING_ONLY"
