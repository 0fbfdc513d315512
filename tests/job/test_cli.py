"""``python -m job`` as a process: exit codes, what it prints, what it imports."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.job.support import MODEL_A, REPO_ROOT, UNREGISTERED, pred1_entry

HEAVY = ("polars", "catboost", "numerapi", "pandas", "google.cloud.secretmanager")


def test_help_is_fast_and_imports_nothing_heavy():
    probe = (
        "import sys\nfrom job.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert "--model-id" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_success_prints_only_json_lines_and_exits_0(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run_subprocess(NUMERAI_MODEL_ID=MODEL_A, LOG_FORMAT=None)  # stdout is a pipe

    assert result.code == 0, result.output
    assert result.stderr == ""
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all({"severity", "message", "time"} <= set(line) for line in lines)
    assert result.summary("alpha")["event"] == "submitted"


def test_text_format_is_human_readable(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    result = job.run_subprocess(NUMERAI_MODEL_ID=MODEL_A, LOG_FORMAT="text")

    assert result.code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    assert not last.startswith("{")
    assert f"model alpha ({MODEL_A}) submitted 300 predictions to round 842" in last


def test_configuration_errors_exit_2_with_one_line(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    bad_setting = job.run_subprocess(NUMERAI_MODEL_ID=MODEL_A, NUMERAI_ROUND="next")
    unknown = job.run_subprocess(NUMERAI_MODEL_ID=UNREGISTERED)

    assert bad_setting.code == 2
    assert bad_setting.stderr.count("\n") == 1 and "NUMERAI_ROUND" in bad_setting.stderr
    assert unknown.code == 2
    [line] = [json.loads(x) for x in unknown.stdout.splitlines()]
    assert line["severity"] == "ERROR"
    assert UNREGISTERED in line["message"]


def test_a_failed_model_exits_1(job, pred1_models):
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    job.fake.faults.create_submission_error("Submission window closed")
    result = job.run_subprocess(NUMERAI_MODEL_ID=MODEL_A)

    assert result.code == 1
    assert result.summary("alpha")["reason"] == "upload: Submission window closed"
