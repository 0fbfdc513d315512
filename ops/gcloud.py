"""Run gcloud the way the verbs promise: print every command first, never a secret.

Secrets go to gcloud on stdin (``--data-file=-``) and are shown as ``<from stdin>``;
values gcloud prints back (a secret version, the webhook token) are captured, never
echoed. With ``dry_run`` nothing runs at all: every command is printed, existence
checks answer "missing" and reads answer ``None``, so the full list of commands a
first run would issue is shown.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

GCLOUD = "gcloud"
STDIN_MARK = "<from stdin>"
# What the verbs print in place of a secret (a Secret's repr, a scrubbed error message).
HIDDEN = "<hidden>"
# What gcloud's stderr says when a describe finds nothing. Anything else (permission
# denied, not logged in, API disabled) is a real failure and must not read as "missing",
# or setup would try to create what it merely cannot see.
_NOT_FOUND_MARKERS = ("NOT_FOUND", "not found", "does not exist", "Cannot find", "404")
# Lines of gcloud's stderr kept in an error message: its last lines carry the reason.
_STDERR_TAIL_LINES = 3
# Waits before retrying a command that failed with a named transient error. IAM is
# eventually consistent: a service account created a moment ago can be "does not
# exist" to a policy binding for several seconds; 30 s in all covers it.
DEFAULT_BACKOFF = (2.0, 4.0, 8.0, 16.0)


class OpsError(Exception):
    """An operation failed (exit code 1); the message is one line saying what and why."""


class GcloudError(OpsError):
    """A gcloud command failed; the message names the command and gcloud's reason."""


@dataclass(frozen=True)
class Secret:
    """A value that may reach gcloud only through stdin; its repr never shows it."""

    value: str

    def __repr__(self) -> str:
        return f"Secret({HIDDEN})"

    __str__ = __repr__


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


class Gcloud:
    """Prints and runs gcloud commands (or only prints them, in a dry run)."""

    def __init__(
        self,
        *,
        dry_run: bool,
        out: IO[str] | None = None,
        executable: str = GCLOUD,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.dry_run = dry_run
        self.out = out if out is not None else sys.stderr
        self.executable = executable
        self.backoff = tuple(backoff)
        self.sleep = sleep

    def show(self, args: Sequence[str], *, stdin: Secret | None = None) -> None:
        line = shlex.join([self.executable, *args])
        if stdin is not None:
            line += f"  < {STDIN_MARK}"
        prefix = "[dry run] " if self.dry_run else "+ "
        print(prefix + line, file=self.out, flush=True)

    def _exec(self, args: Sequence[str], *, stdin: Secret | None, capture: bool) -> Result:
        try:
            proc = subprocess.run(
                [self.executable, *args],
                input=stdin.value if stdin is not None else None,
                # Without input, gcloud gets no terminal stdin: it must never prompt
                # (a prompt would hang a verb run from make or CI).
                stdin=subprocess.DEVNULL if stdin is None else None,
                stdout=subprocess.PIPE if capture else None,
                stderr=subprocess.PIPE if capture else None,
                text=True,
                check=False,
            )
        except FileNotFoundError:
            raise GcloudError(
                f"{self.executable}: not found on PATH; install the Google Cloud CLI "
                "(https://cloud.google.com/sdk/docs/install)"
            ) from None
        return Result(proc.returncode, proc.stdout or "", proc.stderr or "")

    def run(
        self,
        args: Sequence[str],
        *,
        stdin: Secret | None = None,
        capture: bool = False,
        retry_on: Sequence[str] = (),
    ) -> Result | None:
        """Print, then run; raise GcloudError on failure. ``None`` in a dry run.

        ``retry_on``: stderr fragments of known transient errors; such a failure is
        retried after each delay of ``backoff`` (needs ``capture`` to see stderr).
        """
        self.show(args, stdin=stdin)
        if self.dry_run:
            return None
        delays = iter(self.backoff if retry_on else ())
        while True:
            result = self._exec(args, stdin=stdin, capture=capture)
            if result.returncode == 0:
                return result
            transient = any(marker in result.stderr for marker in retry_on)
            delay = next(delays, None) if transient else None
            if delay is None:
                raise GcloudError(_failure(self.executable, args, result, shown=not capture))
            print(f"  (transient: retrying in {delay:g} s)", file=self.out, flush=True)
            self.sleep(delay)

    def read(self, args: Sequence[str], *, quiet: bool = False) -> str | None:
        """Run a command whose output is data (never echoed); ``None`` in a dry run."""
        if not quiet:
            self.show(args)
        if self.dry_run:
            return None
        result = self._exec(args, stdin=None, capture=True)
        if result.returncode != 0:
            raise GcloudError(_failure(self.executable, args, result))
        return result.stdout.strip()

    def read_json(self, args: Sequence[str]) -> Any:
        text = self.read([*args, "--format=json"])
        if text is None:
            return None
        try:
            return json.loads(text or "null")
        except json.JSONDecodeError:
            raise GcloudError(
                f"{shlex.join([self.executable, *args])}: output is not JSON"
            ) from None

    def describe_json(self, args: Sequence[str]) -> Any:
        """A describe's JSON; ``{}`` when gcloud says it does not exist; None in a dry run."""
        self.show([*args, "--format=json"])
        if self.dry_run:
            return None
        result = self._exec([*args, "--format=json"], stdin=None, capture=True)
        if result.returncode != 0:
            if any(marker in result.stderr for marker in _NOT_FOUND_MARKERS):
                return {}
            raise GcloudError(_failure(self.executable, args, result))
        try:
            return json.loads(result.stdout or "null") or {}
        except json.JSONDecodeError:
            raise GcloudError(
                f"{shlex.join([self.executable, *args])}: output is not JSON"
            ) from None

    def exists(self, args: Sequence[str]) -> bool:
        """Run a describe: True if found, False if gcloud says it does not exist.

        In a dry run nothing is checked and the answer is False, so the commands that
        would create the resource are printed too.
        """
        self.show(args)
        if self.dry_run:
            return False
        result = self._exec(args, stdin=None, capture=True)
        if result.returncode == 0:
            return True
        if any(marker in result.stderr for marker in _NOT_FOUND_MARKERS):
            return False
        raise GcloudError(_failure(self.executable, args, result))


def _failure(executable: str, args: Sequence[str], result: Result, *, shown: bool = False) -> str:
    tail = [line.strip() for line in result.stderr.strip().splitlines() if line.strip()]
    reason = " ".join(tail[-_STDERR_TAIL_LINES:]) or f"exit status {result.returncode}"
    if shown:
        reason += " (gcloud's own message is above)"
    verb = " ".join(a for a in args[:4] if not a.startswith("-"))
    return f"`{executable} {verb}` failed: {reason}"
