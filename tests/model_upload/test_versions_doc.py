"""docs/model-uploads.md's version table agrees with uv.lock (this image) and with the copy
of Numerai's hosted pins the tests build pickles with; the lock keeps what a pickle can
notice at Numerai's versions, pandas at 2.x, and catboost's plotting libraries out."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.model_upload.hosted_env import HOSTED_DIR, REPO_ROOT

DOC = REPO_ROOT / "docs" / "model-uploads.md"
# Table row name → distribution in uv.lock / in Numerai's requirements.txt.
DISTRIBUTIONS = {
    "lightgbm": "lightgbm",
    "scikit-learn": "scikit-learn",
    "xgboost": "xgboost-cpu",
    "cloudpickle": "cloudpickle",
    "pandas": "pandas",
    "numpy": "numpy",
    "scipy": "scipy",
    "pyarrow": "pyarrow",
    "polars": "polars",
    "catboost": "catboost",
}
# A pickle of a fitted model carries these libraries' internals: the image has Numerai's.
EXACT = ("lightgbm", "scikit-learn", "xgboost-cpu")
PLOTTING = ("plotly", "matplotlib", "graphviz")
VERSION = re.compile(r"\d+(?:\.\d+)+")


def lock_versions() -> dict[str, str]:
    """Each locked package's version for Python 3.11 (the image's)."""
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    versions: dict[str, str] = {}
    for package in lock["package"]:
        markers = package.get("resolution-markers", [])
        if not markers or any("python_full_version < '3.12'" in m for m in markers):
            versions[package["name"]] = package["version"]
    return versions


def hosted_pins() -> dict[str, str]:
    pins = {}
    for line in (HOSTED_DIR / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip()] = version.strip()
    return pins


def doc_table() -> dict[str, tuple[str, str]]:
    """``| name | this image | Numerai |`` rows of the versions table, by name."""
    section = DOC.read_text().split("## Versions", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in DISTRIBUTIONS:
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def first_version(cell: str) -> str:
    found = VERSION.search(cell)
    assert found, cell
    return found.group()


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_table_row_matches_the_lock_and_numerais_pins(name):
    ours, numerai = doc_table()[name]
    dist = DISTRIBUTIONS[name]
    assert first_version(ours) == lock_versions()[dist], f"{DOC.name}: {name}"
    if dist in hosted_pins():
        assert first_version(numerai) == hosted_pins()[dist], f"{DOC.name}: {name}"


def test_what_a_pickle_can_notice_is_at_numerais_version():
    locked, hosted = lock_versions(), hosted_pins()
    for dist in EXACT:
        assert locked[dist] == hosted[dist], dist
    assert locked["pandas"].split(".")[:2] == hosted["pandas"].split(".")[:2] == ["2", "3"]


def test_catboost_plotting_libraries_are_not_locked():
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    [catboost] = [p for p in lock["package"] if p["name"] == "catboost"]
    assert {d["name"] for d in catboost["dependencies"]}.isdisjoint(PLOTTING)
    assert {p["name"] for p in lock["package"]}.isdisjoint(PLOTTING)
