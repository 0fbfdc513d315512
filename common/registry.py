"""The model registry, ``predictors/models.toml``: Numerai model → predictor (and job).

Read by the dispatcher (accept or reject a webhook, pick the Cloud Run job), the job (pick
the predictor) and the deployment verbs. Standard library only, so the dispatcher can
use it.

    [models.my_model]
    id = "0b5e9f8a-...-uuid"
    predictor = "pred1"
    job = "numerai-job"            # optional
    [models.my_model.options]      # optional, handed to the predictor
    model_path = "predictors/pred1/model.cbm"
"""

from __future__ import annotations

import re
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from common.contract import DEFAULT_MODELS_FILE, MODELS_FILE_ENV

# A predictor is a package under predictors/, so its name must be a Python identifier.
_PREDICTOR_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# Cloud Run job names: lowercase letters, digits and hyphens, starting with a letter,
# not ending with a hyphen, at most 63 characters. Public: the dispatcher checks
# CLOUD_RUN_JOB with it too.
JOB_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_ENTRY_KEYS = frozenset({"id", "predictor", "job", "options"})


class RegistryError(Exception):
    """The registry file is missing or malformed; the message names file and entry."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    id: str
    predictor: str
    job: str | None = None
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def job_or(self, default: str) -> str:
        """The Cloud Run job this model runs on: its own ``job``, else ``default``."""
        return self.job or default


@dataclass(frozen=True)
class Registry:
    path: Path
    models: tuple[ModelEntry, ...]

    def by_id(self, model_id: str) -> ModelEntry | None:
        wanted = model_id.strip().lower()
        for entry in self.models:
            if entry.id == wanted:
                return entry
        return None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(entry.id for entry in self.models)


def registry_path(environ: Mapping[str, str]) -> Path:
    """The registry file named by ``NUMERAI_MODELS_FILE``, else the default."""
    return Path(environ.get(MODELS_FILE_ENV) or DEFAULT_MODELS_FILE)


def load_registry(path: Path | str) -> Registry:
    """Parse and validate the registry; raise RegistryError naming file and entry."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(
            f"{path}: model registry not found (set {MODELS_FILE_ENV})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{path}: cannot read model registry: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: not valid TOML: {exc}") from None
    return parse_registry(raw, path)


def parse_registry(raw: Mapping[str, Any], path: Path) -> Registry:
    unknown = set(raw) - {"models"}
    if unknown:
        raise RegistryError(
            f"{path}: unknown top-level key(s) {sorted(unknown)}; expected [models.<name>]"
        )
    models = raw.get("models")
    if not isinstance(models, dict) or not models:
        raise RegistryError(f"{path}: no models registered; add a [models.<name>] table")
    entries: list[ModelEntry] = []
    seen: dict[str, str] = {}
    for name, table in models.items():
        entry = _parse_entry(path, name, table)
        if entry.id in seen:
            raise RegistryError(
                f"{path}: [models.{name}] id {entry.id} is already used by "
                f"[models.{seen[entry.id]}]"
            )
        seen[entry.id] = name
        entries.append(entry)
    return Registry(path=path, models=tuple(entries))


def _parse_entry(path: Path, name: str, table: Any) -> ModelEntry:
    where = f"{path}: [models.{name}]"
    if not isinstance(table, dict):
        raise RegistryError(f"{where} must be a table")
    unknown = set(table) - _ENTRY_KEYS
    if unknown:
        raise RegistryError(
            f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_ENTRY_KEYS)}"
        )
    model_id = table.get("id")
    if not isinstance(model_id, str) or not model_id.strip():
        raise RegistryError(f"{where}: 'id' (the Numerai model id) is required")
    try:
        model_id = str(uuid.UUID(model_id.strip()))
    except ValueError:
        raise RegistryError(
            f"{where}: 'id' {model_id!r} is not a Numerai model id (a UUID)"
        ) from None
    predictor = table.get("predictor")
    if not isinstance(predictor, str) or not _PREDICTOR_NAME.match(predictor):
        raise RegistryError(
            f"{where}: 'predictor' must name a package under predictors/ (got {predictor!r})"
        )
    job = table.get("job")
    if job is not None and (not isinstance(job, str) or not JOB_NAME.match(job)):
        raise RegistryError(f"{where}: 'job' {job!r} is not a valid Cloud Run job name")
    options = table.get("options", {})
    if not isinstance(options, dict):
        raise RegistryError(f"{where}: 'options' must be a table")
    return ModelEntry(
        name=name,
        id=model_id,
        predictor=predictor,
        job=job,
        options=MappingProxyType(dict(options)),
    )
