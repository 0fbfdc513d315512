"""Every deployment setting is checked before any gcloud runs; the error names it."""

from __future__ import annotations

import pytest

from ops.settings import ConfigError, load_settings

GOOD = {"PROJECT": "my-project-1", "REGION": "europe-west1"}


def _no_gcloud(key: str) -> str | None:
    raise AssertionError(f"gcloud config asked for {key} although PROJECT/REGION were given")


def test_defaults_and_overrides() -> None:
    s = load_settings({**GOOD, "JOB_NAME": "numerai-job-big"}, {"JOB_SA": "my-job"}, _no_gcloud)
    assert (s.project, s.region, s.job_name, s.job_sa) == (
        "my-project-1",
        "europe-west1",
        "numerai-job-big",
        "my-job",
    )
    assert s.dispatcher_sa == "numerai-dispatcher" and s.scheduler_sa == "numerai-scheduler"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PROJECT", "Bad_Project"),
        ("REGION", "Europe West"),
        ("REPOSITORY", "-repo"),
        ("JOB_NAME", "Job"),
        ("SERVICE_NAME", "svc_1"),
        ("JOB_SA", "x"),
        ("DISPATCHER_SA", "has space"),
        ("BUILD_SA", "UPPER-case"),
        ("SCHEDULER_SA", "a"),
    ],
)
def test_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({**GOOD, name: value}, {}, _no_gcloud)
    assert str(info.value).startswith(f"{name}={value!r} is not a valid")


def test_project_is_checked_before_the_other_names() -> None:
    with pytest.raises(ConfigError, match=r"^PROJECT="):
        load_settings({**GOOD, "PROJECT": "Bad_Project", "JOB_NAME": "Bad"}, {}, _no_gcloud)
