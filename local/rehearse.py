"""``make rehearse``: the job's one-command local run, against the fake Numerai.

Starts the fake (``python -m fakes.numerai``) on a scratch directory, makes a small
model from its synthetic data unless one is there (pred1: a CatBoost model; model_upload:
a stand-in pickle made like Numerai's example notebook, ``local/upload_example.py``),
writes a registry copy pointing the model at it (``predictors/pred1/model.cbm`` and the
entry's own pickle are never touched), runs
``python -m job`` for the demo model with the fake's keys, prints the submission the
fake received, stops the fake and exits with the job's exit code.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from common.contract import (
    EXIT_CONFIG,
    EXIT_FAILED,
    MODEL_ID_ENV,
    MODELS_FILE_ENV,
    PUBLIC_ID_ENV,
    SECRET_KEY_ENV,
    TRIGGER_ID_ENV,
)
from local.sandbox import (
    FAKE_PUBLIC_ID,
    FAKE_SECRET_KEY,
    Children,
    LocalRunError,
    clean_env,
    ensure_model,
    fetch_submissions,
    parse_args,
    start_fake,
    step,
    write_registry,
)

DEFAULT_SCRATCH = Path(".rehearsal")


def main(argv: list[str] | None = None) -> int:
    try:
        scratch, entry = parse_args("python -m local.rehearse", __doc__, DEFAULT_SCRATCH, argv)
    except LocalRunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    children = Children()
    try:
        url = start_fake(scratch, children)
        env = clean_env(NUMERAI_API_URL=url, NUMERAI_DATA_DIR=str(scratch / "data"))
        model_path = ensure_model(entry, scratch, env)
        registry = write_registry(entry, model_path, scratch)

        trigger = f"rehearsal-{uuid.uuid4().hex[:8]}"
        step(f"running the job for {entry.name} ({entry.id}), trigger {trigger}")
        env.update(
            {
                MODELS_FILE_ENV: str(registry),
                MODEL_ID_ENV: entry.id,
                TRIGGER_ID_ENV: trigger,
                PUBLIC_ID_ENV: FAKE_PUBLIC_ID,
                SECRET_KEY_ENV: FAKE_SECRET_KEY,
            }
        )
        code = subprocess.run([sys.executable, "-m", "job"], env=env, check=False).returncode

        received = [s for s in fetch_submissions(url) if s.get("trigger_id") == trigger]
        if received:
            sub = received[-1]
            step(
                f"the fake received submission {sub['id']}: model {sub['model_id']}, "
                f"{sub['rows']} rows, round {sub['round']}, trigger {sub['trigger_id']}"
            )
        else:
            step("the fake received no submission")
        step(f"job exit code {code}")
        return code if received or code else EXIT_FAILED
    except LocalRunError as exc:
        step(f"rehearsal FAILED: {exc}")
        return EXIT_FAILED
    finally:
        children.stop_all()


if __name__ == "__main__":
    sys.exit(main())
