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

from local.sandbox import (
    FAKE_PUBLIC_ID,
    FAKE_SECRET_KEY,
    LocalRunError,
    clean_env,
    ensure_model,
    fetch_submissions,
    parse_args,
    start_fake,
    step,
    stop,
    write_registry,
)

DEFAULT_SCRATCH = Path(".rehearsal")


def main(argv: list[str] | None = None) -> int:
    try:
        scratch, entry = parse_args("python -m local.rehearse", __doc__, DEFAULT_SCRATCH, argv)
    except LocalRunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fake = None
    try:
        fake, url = start_fake(scratch)
        env = clean_env(NUMERAI_API_URL=url, NUMERAI_DATA_DIR=str(scratch / "data"))
        model_path = ensure_model(entry, scratch, env)
        registry = write_registry(entry, model_path, scratch)

        trigger = f"rehearsal-{uuid.uuid4().hex[:8]}"
        step(f"running the job for {entry.name} ({entry.id}), trigger {trigger}")
        env.update(
            NUMERAI_MODELS_FILE=str(registry),
            NUMERAI_MODEL_ID=entry.id,
            TRIGGER_ID=trigger,
            NUMERAI_PUBLIC_ID=FAKE_PUBLIC_ID,
            NUMERAI_SECRET_KEY=FAKE_SECRET_KEY,
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
        return code if received or code else 1
    except LocalRunError as exc:
        step(f"rehearsal FAILED: {exc}")
        return 1
    finally:
        if fake is not None:
            stop(fake)


if __name__ == "__main__":
    sys.exit(main())
