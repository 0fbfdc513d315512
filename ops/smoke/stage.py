"""What every smoke stage shares: its failure, and how a gcloud or Numerai error becomes one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from common.redact import scrub
from ops.gcloud import HIDDEN, OpsError
from ops.settings import ConfigError

NEEDS_LIBRARIES = (
    "smoke needs google-cloud-run and numerapi: run it as `make smoke` (it uses .venv)"
)

Say = Callable[[str], None]


class SmokeFailed(Exception):
    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


@contextmanager
def stage(name: str, *secrets: str) -> Iterator[None]:
    """A gcloud failure or a missing value (a secret that is empty or absent) inside
    becomes this stage's failure, with ``secrets`` scrubbed from its reason."""
    try:
        yield
    except (OpsError, ConfigError) as exc:
        raise SmokeFailed(name, scrub(str(exc), secrets, mask=HIDDEN)) from None
