"""A task Cloud Run runs again after a partial failure redoes only what failed.

The Cloud Run fake runs the real ``python -m job`` for each task attempt (with
``CLOUD_RUN_TASK_ATTEMPT`` counting up, as a job deployed with ``--max-retries=1`` does),
against the fake Numerai; the execution is started through the real google-cloud-run
client, as the dispatcher starts it.
"""

from __future__ import annotations

from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2

from fakes.cloudrun import FakeCloudRun
from fakes.executions import JobProcessExecutor
from tests.dispatcher.running import base_env
from tests.job.support import MODEL_A, MODEL_B, PUBLIC_ID, SECRET_KEY, pred1_entry

PROJECT, REGION, JOB = "test-project", "europe-west1", "numerai-job"
WAIT_S = 120.0


def test_the_retry_submits_only_the_model_that_failed(job, pred1_models) -> None:
    job.register(  # beta first: the one refusal below is its submission's
        beta=pred1_entry(MODEL_B, pred1_models["small"], feature_set="small"),
        alpha=pred1_entry(MODEL_A, pred1_models["medium"]),
    )
    job.fake.faults.create_submission_error("Invalid submission", count=1)
    executor = JobProcessExecutor(
        base_env(
            NUMERAI_API_URL=job.fake.url,
            NUMERAI_PUBLIC_ID=PUBLIC_ID,
            NUMERAI_SECRET_KEY=SECRET_KEY,
            NUMERAI_MODELS_FILE=str(job.models_file),
            NUMERAI_DATA_DIR=str(job.tmp_path / "data"),
            # One model after the other: the one scripted refusal must be beta's (models
            # predicting at once would race for it).
            NUMERAI_PARALLEL_MODELS="1",
        ),
        max_retries=1,
    )
    with FakeCloudRun(project=PROJECT, region=REGION, executor=executor) as cloudrun:
        client = run_v2.JobsClient(
            transport="rest",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": cloudrun.url},
        )
        env = {"NUMERAI_MODEL_ID": "all", "NUMERAI_ROUND": "current", "TRIGGER_ID": "t-retry"}
        overrides = run_v2.RunJobRequest.Overrides(
            container_overrides=[
                run_v2.RunJobRequest.Overrides.ContainerOverride(
                    env=[run_v2.EnvVar(name=k, value=v) for k, v in env.items()]
                )
            ]
        )
        name = f"projects/{PROJECT}/locations/{REGION}/jobs/{JOB}"
        operation = client.run_job(request=run_v2.RunJobRequest(name=name, overrides=overrides))
        assert cloudrun.wait_executions(WAIT_S)
        short = operation.metadata.name.rsplit("/", 1)[-1]

    attempts = executor.attempts[short]
    assert [(t.attempt, t.exit_code) for t in attempts] == [(0, 1), (1, 0)]
    # One submission per model: alpha's from the first attempt, beta's from the retry.
    assert [s.model_id for s in job.fake.submissions] == [MODEL_A, MODEL_B]
    retry_out = attempts[1].stdout
    assert '"event": "skipped"' in retry_out and "retry 1 of a task" in retry_out
