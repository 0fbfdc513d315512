"""cloudbuild.yaml: valid, every substitution defined and used, images built/pushed/deployed."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
import yaml

from ops import release
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
    # Empty only where "none" is the default: the token versions `make release` passes.
    empty = {k for k, v in config["substitutions"].items() if not str(v)}
    assert empty == {release.CURRENT_SUBSTITUTION, release.PREVIOUS_SUBSTITUTION}
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


def test_the_build_sets_no_iam(config) -> None:
    # The build account has no setIamPolicy: `make release` grants, as the user.
    for step in config["steps"]:
        words = _words(step)
        assert "add-iam-policy-binding" not in words and "set-iam-policy" not in words
        assert "--allow-unauthenticated" not in words


def test_dispatcher_deploy_flags(steps) -> None:
    words = _words(steps["deploy-dispatcher"])
    start = words.index("gcloud")
    assert words[start + 1:start + 4] == ["run", "deploy", "${_SERVICE_NAME}"]
    flags = _flags(words)
    assert flags["--image"] == IMAGE % "dispatcher"
    assert flags["--service-account"] == (
        "${_DISPATCHER_SA}@$PROJECT_ID.iam.gserviceaccount.com")
    # The token at explicit versions, the previous one only while a rotation is under way.
    assert flags["--set-secrets"] == "$${secrets}"
    script = steps["deploy-dispatcher"]["args"][-1]
    assert 'secrets="WEBHOOK_TOKEN=numerai-webhook-token:${_WEBHOOK_TOKEN_VERSION}"' in script
    assert (
        "WEBHOOK_TOKEN_PREVIOUS=numerai-webhook-token:${_WEBHOOK_TOKEN_PREVIOUS_VERSION}" in script
    )
    assert ":latest" not in script
    env = dict(pair.split("=", 1) for pair in flags["--set-env-vars"].split(","))
    assert env == {"GOOGLE_CLOUD_PROJECT": "$PROJECT_ID", "CLOUD_RUN_REGION": "${_REGION}",
                   "CLOUD_RUN_JOB": "${_JOB_NAME}"}
    # In-memory dedupe: exactly one instance, enough concurrency for a round's webhooks.
    assert flags["--max-instances"] == "1"
    assert flags["--concurrency"] == "${_DISPATCHER_CONCURRENCY}"
    assert flags["--memory"] == "${_DISPATCHER_MEMORY}"
    assert "--cpu-boost" in flags


def test_no_secret_value_anywhere(config) -> None:
    text = (REPO / "cloudbuild.yaml").read_text(encoding="utf-8")
    # Secrets are referenced by name and version through --set-secrets only, never as
    # env values: the keys at :latest (a new key applies at the next execution), the
    # webhook token at the versions `make release` pins.
    for name in ("NUMERAI_PUBLIC_ID", "NUMERAI_SECRET_KEY"):
        for match in re.finditer(rf"{name}=([^,\s]+)", text):
            assert match.group(1).endswith(":latest"), match.group(0)
    for match in re.finditer(r"WEBHOOK_TOKEN(?:_PREVIOUS)?=([^,\s\"]+)", text):
        assert re.fullmatch(r"numerai-webhook-token:\$\{_WEBHOOK_TOKEN_(PREVIOUS_)?VERSION\}",
                            match.group(1)), match.group(0)
    assert "secretEnv" not in text and "availableSecrets" not in text
    assert config["options"]["logging"] == "CLOUD_LOGGING_ONLY"
