"""Find a predictor plugin by name and build it with its registry options.

The job's side of the plugin seam: it imports ``predictors.<name>.predictor`` and checks
what ``create()`` returns against ``predictors.protocol``; plugins never import the job.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from predictors.protocol import Predictor, PredictorError


def declaration(name: str, attribute: str) -> Any:
    """What the plugin package ``predictors/<name>/__init__.py`` declares as ``attribute``
    (predictors.protocol), without importing its predictor module; None when it declares
    nothing or cannot be imported (loading the predictor will then say why)."""
    try:
        package = importlib.import_module(f"predictors.{name}")
    except ImportError:
        return None
    return getattr(package, attribute, None)


def load_predictor(name: str, options: Mapping[str, Any]) -> Predictor:
    module_name = f"predictors.{name}.predictor"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name in (module_name, f"predictors.{name}"):
            raise PredictorError(
                f"predictor {name!r}: no module predictors/{name}/predictor.py"
            ) from None
        raise PredictorError(f"predictor {name!r} cannot be imported: {exc}") from None
    create = getattr(module, "create", None)
    if not callable(create):
        raise PredictorError(
            f"predictor {name!r}: predictors/{name}/predictor.py has no create(**options)"
        )
    try:
        inspect.signature(create).bind(**options)
    except TypeError as exc:
        raise PredictorError(f"predictor {name!r}: bad options {sorted(options)}: {exc}") from None
    try:
        predictor = create(**dict(options))
    except (OSError, ValueError, TypeError) as exc:  # e.g. a missing model file, a bad option value
        raise PredictorError(f"predictor {name!r}: {exc}") from None
    if not isinstance(predictor, Predictor) or not isinstance(
        getattr(predictor, "data_version", None), str
    ):
        raise PredictorError(
            f"predictor {name!r}: create() must return an object with data_version, "
            "columns() and predict()"
        )
    return predictor
