"""make rerun / python -m ops rerun: gcloud run jobs execute with common.contract's overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.conftest import PROJECT, REGION, FakeGcloud, write_registry

ID_A = "11111111-1111-4111-8111-111111111111"
ID_B = "22222222-2222-4222-8222-222222222222"
ID_C = "33333333-3333-4333-8333-333333333333"
DEMO_ID = "5f1a7c2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b"


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    return write_registry(
        tmp_path / "models.toml",
        {
            "alpha": {"id": ID_A, "predictor": "pred1"},
            "beta": {"id": ID_B, "predictor": "pred1"},
            "gamma": {"id": ID_C, "predictor": "pred1", "job": "numerai-job-big"},
        },
    )


def _rerun(gcloud: FakeGcloud, **env: str):
    return gcloud.ops("rerun", PROJECT=PROJECT, REGION=REGION, **env)


def test_one_model_by_name_from_the_shipped_registry(gcloud: FakeGcloud) -> None:
    run = _rerun(gcloud, MODEL="demo_pred1", ROUND="612", TRIGGER="trig-1")
    assert run.code == 0, run.output
    assert gcloud.executes() == [[
        "run", "jobs", "execute", "numerai-job", f"--region={REGION}", f"--project={PROJECT}",
        f"--update-env-vars=NUMERAI_MODEL_ID={DEMO_ID},NUMERAI_ROUND=612,TRIGGER_ID=trig-1,"
        "NUMERAI_IS_TEST=false",
        "--tasks=1",
    ]]
    assert f"+ gcloud run jobs execute numerai-job --region={REGION}" in run.stderr


def test_by_id_any_case_without_round_means_current(gcloud: FakeGcloud) -> None:
    run = _rerun(gcloud, MODEL=DEMO_ID.upper())
    assert run.code == 0, run.output
    (argv,) = gcloud.executes()
    assert (
        f"--update-env-vars=NUMERAI_MODEL_ID={DEMO_ID},NUMERAI_ROUND=current,NUMERAI_IS_TEST=false"
        in argv
    )


def test_round_test_is_a_test_run(gcloud: FakeGcloud) -> None:
    assert _rerun(gcloud, MODEL="demo_pred1", ROUND="test").code == 0
    (argv,) = gcloud.executes()
    assert any("NUMERAI_ROUND=test" in a and "NUMERAI_IS_TEST=true" in a for a in argv)


def test_all_on_one_job_is_all_with_a_task_per_model(gcloud: FakeGcloud, tmp_path: Path) -> None:
    models = write_registry(tmp_path / "two.toml", {
        "alpha": {"id": ID_A, "predictor": "pred1"},
        "beta": {"id": ID_B, "predictor": "pred1"},
    })
    run = _rerun(gcloud, MODEL="all", NUMERAI_MODELS_FILE=str(models))
    assert run.code == 0, run.output
    assert gcloud.executes() == [[
        "run", "jobs", "execute", "numerai-job", f"--region={REGION}", f"--project={PROJECT}",
        "--update-env-vars=NUMERAI_MODEL_ID=all,NUMERAI_ROUND=current,NUMERAI_IS_TEST=false",
        "--tasks=2",
    ]]


def test_all_over_two_jobs_names_each_jobs_models(gcloud: FakeGcloud, registry: Path) -> None:
    gcloud.update(run_jobs=["numerai-job", "numerai-job-big"])
    run = _rerun(gcloud, MODEL="all", ROUND="700", NUMERAI_MODELS_FILE=str(registry))
    assert run.code == 0, run.output
    assert gcloud.executes() == [
        [
            "run", "jobs", "execute", "numerai-job", f"--region={REGION}",
            f"--project={PROJECT}",
            # A comma inside a value needs gcloud's alternate delimiter.
            f"--update-env-vars=^@^NUMERAI_MODEL_ID={ID_A},{ID_B}@NUMERAI_ROUND=700"
            "@NUMERAI_IS_TEST=false",
            "--tasks=2",
        ],
        [
            "run", "jobs", "execute", "numerai-job-big", f"--region={REGION}",
            f"--project={PROJECT}",
            f"--update-env-vars=NUMERAI_MODEL_ID={ID_C},NUMERAI_ROUND=700,NUMERAI_IS_TEST=false",
            "--tasks=1",
        ],
    ]


def test_comma_list_of_names(gcloud: FakeGcloud, registry: Path) -> None:
    gcloud.update(run_jobs=["nj"])
    run = _rerun(gcloud, MODEL="beta,alpha", NUMERAI_MODELS_FILE=str(registry), JOB_NAME="nj")
    assert run.code == 0, run.output
    (argv,) = gcloud.executes()
    assert argv[3] == "nj"
    assert f"--update-env-vars=^@^NUMERAI_MODEL_ID={ID_A},{ID_B}@" in argv[6]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MODEL": "nosuchmodel"}, "MODEL='nosuchmodel'"),
        ({}, "MODEL is not set"),
        ({"MODEL": "demo_pred1", "ROUND": "last"}, "ROUND='last'"),
        ({"MODEL": "demo_pred1", "ROUND": "-3"}, "ROUND='-3'"),
        ({"MODEL": "demo_pred1", "TRIGGER": "a b"}, "TRIGGER='a b'"),
        ({"MODEL": "demo_pred1", "DRY_RUN": "maybe"}, "DRY_RUN='maybe'"),
        ({"MODEL": "demo_pred1", "REGION": "Europe West"}, "REGION='Europe West'"),
    ],
)
def test_bad_input_exit_2_naming_it(gcloud: FakeGcloud, env: dict, named: str) -> None:
    run = gcloud.ops("rerun", **{"PROJECT": PROJECT, "REGION": REGION, **env})
    assert run.code == 2
    assert named in run.stderr
    assert gcloud.calls() == []


def test_unknown_model_lists_the_registered_ones(gcloud: FakeGcloud, registry: Path) -> None:
    run = _rerun(gcloud, MODEL="delta", NUMERAI_MODELS_FILE=str(registry))
    assert run.code == 2
    assert f"alpha ({ID_A})" in run.stderr and str(registry) in run.stderr


def test_malformed_registry_is_exit_2_naming_the_file(gcloud: FakeGcloud, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[models.x]\nid = "not-a-uuid"\npredictor = "pred1"\n')
    run = _rerun(gcloud, MODEL="x", NUMERAI_MODELS_FILE=str(bad))
    assert run.code == 2
    assert str(bad) in run.stderr and "[models.x]" in run.stderr


def test_each_job_is_checked_before_anything_runs(gcloud: FakeGcloud, registry: Path) -> None:
    run = _rerun(gcloud, MODEL="all", NUMERAI_MODELS_FILE=str(registry))
    assert run.code == 1
    assert "Cloud Run job numerai-job-big does not exist in europe-west1" in run.stderr
    assert "make release JOB_NAME=numerai-job-big DEPLOY_DISPATCHER=false" in run.stderr
    assert [a[3] for a in gcloud.argvs()] == ["numerai-job", "numerai-job-big"]
    assert gcloud.executes() == []


def test_gcloud_refusal_is_exit_1_with_its_reason(gcloud: FakeGcloud) -> None:
    gcloud.update(fail={"run jobs execute": {
        "code": 1,
        "stderr": "ERROR: (gcloud.run.jobs.execute) NOT_FOUND: Job [numerai-job] not found",
        "times": 1}})
    run = _rerun(gcloud, MODEL="demo_pred1")
    assert run.code == 1
    assert "Job [numerai-job] not found" in run.stderr


def test_dry_run_prints_and_runs_nothing(gcloud: FakeGcloud) -> None:
    run = _rerun(gcloud, MODEL="demo_pred1", DRY_RUN="1")
    assert run.code == 0, run.output
    assert gcloud.calls() == []
    assert "[dry run] gcloud run jobs execute numerai-job" in run.stderr


def test_make_rerun_passes_make_variables(gcloud: FakeGcloud) -> None:
    run = gcloud.make("rerun", PROJECT=PROJECT, REGION=REGION, MODEL="demo_pred1", ROUND="613")
    assert run.code == 0, run.output
    (argv,) = gcloud.executes()
    assert argv[:4] == ["run", "jobs", "execute", "numerai-job"]
    assert "NUMERAI_ROUND=613" in argv[6]
