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


def _run_module_job(job, prelude: str, *argv: str, **env: str | None):
    """``python -c`` that runs ``prelude`` and then ``job`` as ``__main__`` (as ``-m`` does)."""
    code = (
        f"import runpy, sys\n{prelude}\n"
        f"sys.argv = ['job', *{list(argv)!r}]\n"
        "runpy.run_module('job', run_name='__main__', alter_sys=True)\n"
    )
    return job.run_python("-c", code, **env)


def test_the_process_ends_without_teardown_and_loses_no_output(job, pred1_models, tmp_path):
    """``python -m job`` leaves with os._exit: exit-time work (here an atexit hook standing
    for the interpreter's teardown) is skipped, the exit code and every log line are kept."""
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    marker = tmp_path / "atexit-ran"
    hook = f"import atexit\natexit.register(open, {str(marker)!r}, 'w')"
    output = tmp_path / "alpha.csv"

    proc = _run_module_job(
        job, hook, "--dry-run", "--output", str(output), NUMERAI_MODEL_ID=MODEL_A
    )

    assert proc.code == 0, proc.stdout + proc.stderr
    assert not marker.exists()
    last = json.loads(proc.stdout.splitlines()[-1])  # stdout is a pipe: block-buffered
    assert last["event"] == "dry_run" and output.is_file()

    failed = _run_module_job(job, hook, NUMERAI_MODEL_ID=UNREGISTERED)
    assert failed.code == 2 and UNREGISTERED in failed.stdout
    assert not marker.exists()


def test_under_a_profiler_the_interpreter_exits_normally(job, pred1_models, tmp_path):
    """Profilers and coverage write their results at exit: then no os._exit."""
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    marker = tmp_path / "atexit-ran"
    hook = (
        f"import atexit\natexit.register(open, {str(marker)!r}, 'w')\n"
        "sys.setprofile(lambda *event: None)"
    )

    proc = _run_module_job(job, hook, NUMERAI_MODEL_ID=UNREGISTERED)

    assert proc.code == 2, proc.stdout + proc.stderr
    assert marker.exists()


def test_the_collector_is_paused_only_while_the_heavy_modules_load(job, pred1_models):
    """Their ~100,000 objects are frozen (never scanned again); collection resumes after."""
    job.register(alpha=pred1_entry(MODEL_A, pred1_models["medium"]))
    probe = (
        "import gc, sys\nfrom job.cli import main\n"
        "assert 'job.runner' not in sys.modules and gc.get_freeze_count() == 0\n"
        "code = main()\n"
        "full = gc.get_stats()[2]['collections']\n"
        "print(code, gc.isenabled(), gc.get_freeze_count() > 10_000, full)\n"
    )
    proc = job.run_python("-c", probe, NUMERAI_MODEL_ID=UNREGISTERED)
    # No full collection ran (without the pause, loading them triggers two).
    assert proc.stdout.strip().splitlines()[-1] == "2 True True 0", proc.stdout + proc.stderr
