"""MODEL=… as the verbs take it: a model name or id from the registry, a comma list, or all."""

from __future__ import annotations

from pathlib import Path

from common.contract import ALL_MODELS as ALL
from common.registry import ModelEntry, Registry, RegistryError, load_registry
from ops.settings import ConfigError


def load(models_file: Path) -> Registry:
    try:
        return load_registry(models_file)
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None


def resolve(registry: Registry, spec: str | None, variable: str = "MODEL") -> list[ModelEntry]:
    """The entries ``spec`` names, in registry order, each once."""
    spec = (spec or "").strip()
    if not spec:
        raise ConfigError(f"{variable} is not set: pass {variable}=<name|id|all>")
    if spec.lower() == ALL:
        return list(registry.models)
    wanted: list[ModelEntry] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        entry = registry.by_id(item) or next((e for e in registry.models if e.name == item), None)
        if entry is None:
            known = ", ".join(f"{e.name} ({e.id})" for e in registry.models)
            raise ConfigError(
                f"{variable}={item!r}: no model with that name or id in {registry.path}; "
                f"registered: {known}"
            )
        if entry not in wanted:
            wanted.append(entry)
    if not wanted:
        raise ConfigError(f"{variable} is empty: pass {variable}=<name|id|all>")
    return [e for e in registry.models if e in wanted]
