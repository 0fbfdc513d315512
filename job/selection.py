"""Which registered models this task runs: the requested ones, then this task's share.

Light (no numerapi, polars or pandas), so the job can look at the share before it loads
the heavy libraries (job.footprint) as well as when it runs it (job.runner).
"""

from __future__ import annotations

from collections.abc import Sequence

from common.registry import ModelEntry, Registry
from job.settings import ConfigError, Settings


def select_models(registry: Registry, model_ids: Sequence[str] | None) -> list[ModelEntry]:
    if model_ids is None:
        return list(registry.models)
    selected = []
    for model_id in model_ids:
        entry = registry.by_id(model_id)
        if entry is None:
            raise ConfigError(f"model {model_id} is not registered in {registry.path}")
        selected.append(entry)
    return selected


def task_share(requested: Sequence[ModelEntry], settings: Settings) -> list[ModelEntry]:
    """Cloud Run runs CLOUD_RUN_TASK_COUNT tasks; task i takes every count-th model from i."""
    return list(requested[settings.task_index :: settings.task_count])
