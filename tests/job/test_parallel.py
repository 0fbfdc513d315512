"""Models of one task predicting at the same time (job.parallel): one per CPU, or
NUMERAI_PARALLEL_MODELS; the same submissions as one after another."""

from __future__ import annotations

import threading

import pytest

from common.registry import ModelEntry
from job import parallel
from job.plugins import load_predictor
from tests.job.support import MODEL_A, MODEL_B, MODEL_C, TRIGGER, pred1_entry

# How long a model waits at the barrier for the others to be predicting too.
BARRIER_TIMEOUT_S = 30.0


class Together:
    """Wraps real predictors: each predict waits until ``parties`` predicts are under way
    (a model left alone fails with BrokenBarrierError), and records ``context.threads``."""

    def __init__(self, parties: int, fail: str | None = None):
        self.barrier = threading.Barrier(parties, timeout=BARRIER_TIMEOUT_S)
        self.threads: list[int] = []
        self.fail = fail  # the model file whose predict raises after the barrier

    def load(self, name, options):
        inner = load_predictor(name, options)
        outer = self
        failing = options["model_path"] == outer.fail

        class Waiting:
            data_version = inner.data_version
            columns = inner.columns

            def predict(self, live, context):
                outer.threads.append(context.threads)
                outer.barrier.wait()
                if failing:
                    raise RuntimeError("model exploded")
                return inner.predict(live, context)

        return Waiting()


def three_models(job, pred1_models) -> str:
    """alpha (medium), beta (small), gamma (alpha's model in another file)."""
    copy = job.tmp_path / "gamma.cbm"
    copy.write_bytes(pred1_models["medium"].read_bytes())
    job.register(
        alpha=pred1_entry(MODEL_A, pred1_models["medium"]),
        beta=pred1_entry(MODEL_B, pred1_models["small"], feature_set="small"),
        gamma=pred1_entry(MODEL_C, copy),
    )
    return str(copy)


def submitted(fake, trigger: str) -> dict[str, bytes]:
    return {s.model_id: s.csv for s in fake.submissions if s.trigger_id == trigger}


def model_names(lines) -> list[str]:
    return [line["logging.googleapis.com/labels"]["model_name"] for line in lines]


def test_models_predict_at_once_and_submit_what_they_would_one_by_one(job, pred1_models):
    three_models(job, pred1_models)
    together = Together(parties=3)

    at_once = job.run(
        NUMERAI_MODEL_ID="all", NUMERAI_PARALLEL_MODELS="3", load_predictor=together.load
    )
    one_by_one = job.run(NUMERAI_MODEL_ID="all", NUMERAI_PARALLEL_MODELS="1", TRIGGER_ID="again")

    assert at_once.code == 0, at_once.output
    assert one_by_one.code == 0, one_by_one.output
    [round_line] = [line for line in at_once.lines if line["message"].startswith("round 842")]
    assert round_line["models_at_once"] == 3 and "3 at a time" in round_line["message"]
    # Summaries in registry order, whichever model finished first.
    assert model_names(at_once.events("submitted")) == ["alpha", "beta", "gamma"]
    first, again = submitted(job.fake, TRIGGER), submitted(job.fake, "again")
    assert first.keys() == again.keys() == {MODEL_A, MODEL_B, MODEL_C}
    assert all(first[model] == again[model] for model in again)
    # The task's CPUs shared among the models predicting at once.
    assert together.threads == [max(1, round_line["cpus"] // 3)] * 3


def test_a_model_failing_at_once_with_others_fails_alone(job, pred1_models):
    gamma_file = three_models(job, pred1_models)
    together = Together(parties=3, fail=gamma_file)

    result = job.run(
        NUMERAI_MODEL_ID="all", NUMERAI_PARALLEL_MODELS="3", load_predictor=together.load
    )

    assert result.code == 1
    assert result.summary("gamma")["reason"] == (
        "predict: predictor 'pred1' raised RuntimeError: model exploded"
    )
    assert model_names(result.events("submitted")) == ["alpha", "beta"]
    assert submitted(job.fake, TRIGGER).keys() == {MODEL_A, MODEL_B}


def test_models_at_once_download_each_file_once(job, pred1_models):
    """A cold cache: two models asking for live.parquet at the same moment."""
    three_models(job, pred1_models)

    result = job.run(NUMERAI_MODEL_ID="all", NUMERAI_PARALLEL_MODELS="3")

    assert result.code == 0, result.output
    assert job.fake.file_gets("live.parquet") == 1
    assert job.fake.file_gets("features.json") == 1
    assert len(submitted(job.fake, TRIGGER)) == 3


def test_the_same_model_twice_at_once_is_predicted_once(job, pred1_models):
    job.register(
        alpha=pred1_entry(MODEL_A, pred1_models["medium"]),
        twin=pred1_entry(MODEL_B, pred1_models["medium"]),
    )

    result = job.run(NUMERAI_MODEL_ID="all", NUMERAI_PARALLEL_MODELS="2")

    assert result.code == 0, result.output
    reused = [line for line in result.lines if "reusing its predictions" in line["message"]]
    assert model_names(reused) == ["twin"]
    csvs = submitted(job.fake, TRIGGER)
    assert csvs[MODEL_A] == csvs[MODEL_B]


def test_a_bad_parallel_models_setting_is_exit_2(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    for bad in ("0", "two", "-1"):
        result = job.run(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_PARALLEL_MODELS=bad)
        assert result.code == 2
        assert f"NUMERAI_PARALLEL_MODELS must be an integer ≥ 1 (got '{bad}')" in result.output


def entries(*predictors: str) -> list[ModelEntry]:
    return [ModelEntry(name=f"m{i}", id=f"id{i}", predictor=p) for i, p in enumerate(predictors)]


@pytest.mark.parametrize(
    ("share", "limit", "cpus", "expected"),
    [
        (entries("pred1", "pred1", "pred1"), None, 2, (2, 1)),  # one per CPU
        (entries("pred1", "pred1", "pred1"), None, 4, (3, 1)),  # no more than the models
        (entries("pred1", "pred1"), None, 8, (2, 4)),  # the CPUs shared among them
        (entries("pred1", "pred1", "pred1"), 1, 4, (1, 4)),  # the setting caps it
        (entries("pred1", "pred1", "pred1"), 3, 1, (3, 1)),  # ... or raises it
        (entries("pred1"), None, 4, (1, 4)),  # one model: all the CPUs
        (entries("pred1", "model_upload"), None, 4, (1, 4)),  # undeclared: one at a time
        (entries("pred1", "no_such_plugin"), None, 4, (1, 4)),
    ],
)
def test_plan_runs_declared_predictors_one_per_cpu(share, limit, cpus, expected):
    plan = parallel.plan(share, limit, cpus)

    assert (plan.models_at_once, plan.threads) == expected
    assert plan.cpus == cpus


@pytest.mark.parametrize(
    ("cpu_max", "cap"),
    [
        ("max 100000\n", None),  # no quota: the affinity mask
        ("200000 100000\n", 2),
        ("150000 100000\n", 2),  # 1.5 CPUs: rounded up
        ("50000 100000\n", 1),
        ("garbage\n", None),
        (None, None),  # no cgroup v2 file
    ],
)
def test_usable_cpus_follow_a_cgroup_quota(tmp_path, cpu_max, cap):
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    affinity = parallel.usable_cpus(tmp_path / "absent")

    assert parallel.usable_cpus(path) == (affinity if cap is None else min(cap, affinity))
