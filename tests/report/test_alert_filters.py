"""The filters of `make alerts`' policies, evaluated on what a deployment really logs.

The entries are those of deployment.py's round: the job's own lines for alpha
(submitted) and beta (failed), and the entry the Cloud Run fake writes for beta's failed
execution (plus lines of Cloud Run's system log, built here). Each policy's filter must
select exactly its failure, through the fake Cloud Logging's evaluator (which refuses
syntax it does not know), and each label extractor must find its field on the selected
entry, so the mail can name the model and the reason.
"""

from __future__ import annotations

import re
from typing import Any

from fakes.cloudlogging import matches
from ops.alerts.policies import execution_failed_filter, model_failed_filter, wanted_policies
from ops.settings import load_settings
from tests.deploy.conftest import PROJECT
from tests.report.deployment import BETA, Deployment

JOBS = ["numerai-job"]


def _extract(entry: dict[str, Any], extractor: str) -> Any:
    """EXTRACT(a.b."c/d") of a log entry, as Cloud Monitoring reads it."""
    path = re.fullmatch(r"EXTRACT\((.+)\)", extractor)
    assert path, extractor
    value: Any = entry
    for part in re.findall(r'"[^"]+"|[^.]+', path.group(1)):
        value = value.get(part.strip('"')) if isinstance(value, dict) else None
    return value


def _extractors(kind: str) -> dict[str, str]:
    settings = load_settings({"PROJECT": PROJECT}, {}, lambda key: None)
    policy = wanted_policies(settings, JOBS, [])[kind]
    return policy["conditions"][0]["conditionMatchedLog"]["labelExtractors"]


def test_the_model_policy_selects_the_failed_summary_line_only(deployment: Deployment) -> None:
    entries = deployment.cloudrun.log_entries
    (entry,) = [e for e in entries if matches(e, model_failed_filter(JOBS))]
    assert entry["labels"]["model_id"] == BETA
    found = {key: _extract(entry, x) for key, x in _extractors("model-failed").items()}
    assert found["model"] == "beta"
    assert found["round"] == str(deployment.numerai.current_round)
    assert found["execution"] == deployment.beta_execution
    assert found["reason"].startswith("predictor: predictor 'pred1': model file ")
    assert not [e for e in entries if matches(e, model_failed_filter(["another-job"]))]


def test_the_execution_policy_selects_cloud_runs_record_of_the_failure(
    deployment: Deployment,
) -> None:
    entries = deployment.cloudrun.log_entries
    (entry,) = [e for e in entries if matches(e, execution_failed_filter(PROJECT, JOBS))]
    found = {key: _extract(entry, x) for key, x in _extractors("execution-failed").items()}
    assert found == {
        "job": "numerai-job",
        "message": f"Execution {deployment.beta_execution} has failed to complete, 0/1 tasks "
                   "were a success.",
        "text": None,
    }
    # alpha's execution succeeded: nothing of it matches.
    assert deployment.alpha_execution not in str(entry)


def _system_log(severity: str, text: str) -> dict[str, Any]:
    """A line of Cloud Run's system log of a job's tasks."""
    return {
        "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Fvarlog%2Fsystem",
        "resource": {"type": "cloud_run_job", "labels": {"job_name": "numerai-job"}},
        "severity": severity,
        "textPayload": text,
    }


def test_the_execution_policy_also_selects_an_error_of_cloud_runs_system_log() -> None:
    oom = _system_log("ERROR", "Memory limit of 4096 MiB exceeded with 4100 MiB used.")
    started = _system_log("INFO", "Container called exit(0).")
    selected = [e for e in (oom, started) if matches(e, execution_failed_filter(PROJECT, JOBS))]
    assert selected == [oom]
    found = {key: _extract(oom, x) for key, x in _extractors("execution-failed").items()}
    assert found == {"job": "numerai-job", "message": None, "text": oom["textPayload"]}
