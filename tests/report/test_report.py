"""`make report` end to end against the local fakes (the deployment of deployment.py:
alpha submitted by a webhook's run, beta failed in a person's rerun, gamma never run).

``python -m ops report`` runs as a user runs it: gcloud is the recording stand-in (the
keys come from the project's secrets through it), which hands ``logging read`` and ``run
jobs executions list`` to the real gcloud, whose proxy is the fake; Numerai is asked
through numerapi.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fakes.gcloud import gcloud_path
from tests.deploy.conftest import (
    PROJECT,
    REGION,
    REPO,
    VERB_TIMEOUT,
    FakeGcloud,
    Run,
    via_real_gcloud,
)
from tests.job.support import PUBLIC_ID, SECRET_KEY
from tests.report.deployment import ALPHA, BETA, PERSON, WEBHOOK_TRIGGER, Deployment

pytestmark = pytest.mark.skipif(gcloud_path() is None, reason="gcloud is not installed")


@pytest.fixture
def project(gcloud: FakeGcloud) -> FakeGcloud:
    """The project's Numerai keys, read through gcloud."""
    gcloud.update(secrets={"numerai-public-id": [PUBLIC_ID], "numerai-secret": [SECRET_KEY]})
    return gcloud


def _report(project: FakeGcloud, deployment: Deployment, tmp_path: Path, **env: str) -> Run:
    variables = {
        "PROJECT": PROJECT,
        "REGION": REGION,
        "NUMERAI_MODELS_FILE": str(deployment.registry),
        "NUMERAI_API_URL": deployment.numerai.url,
        **via_real_gcloud(deployment.cloudrun, tmp_path / "real-gcloud"),
    }
    return project.ops("report", **{**variables, **env})


def _row(stdout: str, model: str) -> str:
    (line,) = [x for x in stdout.splitlines() if x.startswith(model + " ")]
    return line


def test_one_submitted_one_failed_one_missing(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path
) -> None:
    run = _report(project, deployment, tmp_path)
    assert run.code == 1, run.output
    (sub,) = deployment.numerai.submissions
    current = deployment.numerai.current_round
    assert run.stdout.startswith(f"round {current} (opened ")
    assert ": 1 of 3 model(s) submitted\n" in run.stdout
    alpha = _row(run.stdout, "alpha")
    assert re.match(rf"alpha +submitted +\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d +webhook +"
                    rf"{WEBHOOK_TRIGGER} +submission {sub.id}$", alpha), alpha
    beta = _row(run.stdout, "beta")
    assert re.match(rf"beta +failed +\S+ \S+ +rerun \({PERSON}\) +- +predictor: predictor "
                    r"'pred1': model file \S+gone.cbm not found \(option model_path\)$", beta)
    gamma = _row(run.stdout, "gamma")
    assert re.match(rf"gamma +missing +- +- +- +no submission on Numerai and no run of it "
                    rf"for round {current} since it opened ", gamma), gamma
    assert run.stdout.splitlines()[-2:] == [
        "why: make logs MODEL=<name>, e.g. make logs MODEL=beta",
        "submit now (once the cause is fixed): make rerun MODEL=beta,gamma",
    ]
    # The keys came from the project's secrets and appear nowhere.
    reads = [a[4] for a in project.argvs() if a[:3] == ["secrets", "versions", "access"]]
    assert reads == ["--secret=numerai-public-id", "--secret=numerai-secret"]
    for secret in (PUBLIC_ID, SECRET_KEY):
        assert secret not in run.output
        assert all(secret not in " ".join(a) for a in project.argvs())
    assert deployment.cloudrun.foreign_requests == []


def test_the_summary_lines_are_read_with_the_round_filter(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path
) -> None:
    run = _report(project, deployment, tmp_path, MODEL="beta")
    assert run.code == 1, run.output
    (read,) = [a for a in project.argvs() if a[:2] == ["logging", "read"]]
    current = deployment.numerai.current_round
    assert read[2].startswith(
        'resource.type="cloud_run_job" AND (jsonPayload.event="submitted" OR '
        'jsonPayload.event="failed" OR jsonPayload.event="skipped" OR '
        f'jsonPayload.event="dry_run") AND (labels.round="{current}" OR labels.round="") '
        f'AND (labels.model_id="{BETA}") AND timestamp>="')
    lists = [a for a in project.argvs() if a[:4] == ["run", "jobs", "executions", "list"]]
    assert lists == [["run", "jobs", "executions", "list", "--job=numerai-job",
                      f"--region={REGION}", f"--project={PROJECT}", "--limit=100",
                      "--format=json"]]
    assert f"execution {deployment.beta_execution}" not in run.stdout  # it wrote a reason


def test_all_selected_submitted_is_exit_0(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path
) -> None:
    run = _report(project, deployment, tmp_path, MODEL="alpha")
    assert run.code == 0, run.output
    assert ": 1 of 1 model(s) submitted" in run.stdout
    assert "make rerun" not in run.stdout


def test_json_for_scripts(project: FakeGcloud, deployment: Deployment, tmp_path: Path) -> None:
    run = _report(project, deployment, tmp_path, FORMAT="json")
    assert run.code == 1, run.output
    report = json.loads(run.stdout)
    assert report["round"] == deployment.numerai.current_round
    assert report["submitted"] == 1
    by_name = {m["model"]: m for m in report["models"]}
    (sub,) = deployment.numerai.submissions
    assert by_name["alpha"] | {"when": None} == {
        "model": "alpha", "model_id": ALPHA, "state": "submitted", "when": None,
        "submission_id": sub.id, "trigger_id": WEBHOOK_TRIGGER, "how": "webhook",
        "execution": deployment.alpha_execution, "detail": f"submission {sub.id}",
    }
    assert by_name["beta"]["state"] == "failed"
    assert by_name["beta"]["how"] == f"rerun ({PERSON})"
    assert by_name["beta"]["execution"] == deployment.beta_execution
    assert by_name["beta"]["detail"].startswith("predictor: predictor 'pred1': model file ")
    assert by_name["gamma"]["state"] == "missing"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MODEL": "nosuchmodel"}, "MODEL='nosuchmodel': no model with that name or id"),
        ({"ROUND": "last"}, "ROUND='last': expected 'current' or a round number"),
        ({"ROUND": "test"}, "ROUND='test'"),
        ({"FORMAT": "yaml"}, "FORMAT='yaml': expected table or json"),
    ],
)
def test_bad_input_is_exit_2_before_anything_is_read(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path, env: dict, named: str
) -> None:
    run = _report(project, deployment, tmp_path, **env)
    assert run.code == 2, run.output
    assert run.stderr.strip().splitlines()[-1].startswith(f"error: {named}")
    assert project.calls() == []


def test_a_round_that_has_not_opened_is_exit_2(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path
) -> None:
    future = deployment.numerai.current_round + 1
    run = _report(project, deployment, tmp_path, ROUND=str(future))
    assert run.code == 2, run.output
    assert run.stderr.strip().splitlines()[-1] == (
        f"error: ROUND={future}: has not opened yet (the open round is "
        f"{deployment.numerai.current_round})")


def test_an_earlier_round_without_runs_is_all_missing(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path
) -> None:
    earlier = deployment.numerai.current_round - 1
    run = _report(project, deployment, tmp_path, ROUND=str(earlier))
    assert run.code == 1, run.output
    assert ": 0 of 3 model(s) submitted" in run.stdout
    for name in ("alpha", "beta", "gamma"):
        assert re.match(rf"{name} +missing ", _row(run.stdout, name))
    assert "make rerun" not in run.stdout  # Numerai accepts nothing for a past round
    (read,) = [a for a in project.argvs() if a[:2] == ["logging", "read"]]
    assert f'(labels.round="{earlier}" OR labels.round="")' in read[2]
    assert 'timestamp<"' in read[2]  # bounded by the next round's opening


def test_numerai_refusing_the_keys_is_exit_1_without_them(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path
) -> None:
    wrong = "WRONGSECRETKEYWRONGSECRETKEY1234"
    project.update(secrets={"numerai-public-id": [PUBLIC_ID], "numerai-secret": [wrong]})
    run = _report(project, deployment, tmp_path)
    assert run.code == 1, run.output
    assert run.stderr.strip().splitlines()[-1].startswith(
        "error: Numerai did not answer: NumeraiError: You must be authenticated")
    assert wrong not in run.output and PUBLIC_ID not in run.output


def test_dry_run_reads_nothing(project: FakeGcloud, deployment: Deployment, tmp_path: Path) -> None:
    requests_before = len(deployment.numerai.requests)
    run = _report(project, deployment, tmp_path, DRY_RUN="1")
    assert run.code == 0, run.output
    assert project.calls() == []
    assert len(deployment.numerai.requests) == requests_before
    assert "[dry run] gcloud run jobs executions list --job=numerai-job" in run.stderr
    assert "dry run: would ask Numerai for round current" in run.stdout


def test_make_report(project: FakeGcloud, deployment: Deployment) -> None:
    """The Makefile target passes its variables through (a dry run: nothing is read)."""
    run = project.make("report", PROJECT=PROJECT, REGION=REGION, MODEL="alpha", ROUND="7",
                       DRY_RUN="1", NUMERAI_MODELS_FILE=str(deployment.registry))
    assert run.code == 0, run.output
    assert "dry run: would ask Numerai for round 7 and the submissions of 1 model(s)" in run.stdout



def test_a_refused_log_read_is_exit_1_naming_it(
    project: FakeGcloud, deployment: Deployment, tmp_path: Path
) -> None:
    project.update(fail={"logging read": {
        "stderr": "ERROR: (gcloud.logging.read) PERMISSION_DENIED: Permission "
                  "'logging.logEntries.list' denied on resource"}})
    run = _report(project, deployment, tmp_path)
    assert run.code == 1, run.output
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: `gcloud logging read")
    assert "logging.logEntries.list" in last
    assert "MODEL" not in run.stdout  # no table from half the sources


def test_without_numerapi_it_says_to_use_make(project: FakeGcloud, tmp_path: Path) -> None:
    """`python3 -m ops report` outside .venv: exit 2 naming the way to run it."""
    env = project.env(PROJECT=PROJECT, REGION=REGION, NUMERAI_PUBLIC_ID=PUBLIC_ID,
                      NUMERAI_SECRET_KEY=SECRET_KEY)
    # -S: no site-packages, so no numerapi (ops itself is standard library only).
    proc = subprocess.run([sys.executable, "-S", "-m", "ops", "report"], cwd=REPO, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=VERB_TIMEOUT, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: report needs numerapi: run it as `make report` (it uses .venv)")
    assert PUBLIC_ID not in proc.stderr + proc.stdout
