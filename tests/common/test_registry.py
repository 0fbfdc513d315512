"""The registry parser: every malformed file is one error naming the file and entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.registry import (
    DEFAULT_MODELS_FILE,
    MODELS_FILE_ENV,
    RegistryError,
    load_registry,
    registry_path,
)

GOOD_ID = "0b5e9f8a-1c2d-4e3f-8a9b-0c1d2e3f4a5b"
OTHER_ID = "1b5e9f8a-1c2d-4e3f-8a9b-0c1d2e3f4a5b"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_parses_entries_in_order_with_options_and_job(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
[models.alpha]
id = "{GOOD_ID.upper()}"
predictor = "pred1"
job = "numerai-job-big"
[models.alpha.options]
model_path = "m.cbm"
feature_set = "small"

[models.beta]
id = "{OTHER_ID}"
predictor = "model_upload"
""",
    )
    registry = load_registry(path)
    assert [m.name for m in registry.models] == ["alpha", "beta"]
    alpha = registry.by_id(GOOD_ID)
    assert alpha is not None
    assert alpha.id == GOOD_ID  # normalised to lower case
    assert alpha.job == "numerai-job-big"
    assert dict(alpha.options) == {"model_path": "m.cbm", "feature_set": "small"}
    assert registry.by_id(f"  {OTHER_ID.upper()} ").name == "beta"
    assert registry.by_id("2b5e9f8a-1c2d-4e3f-8a9b-0c1d2e3f4a5b") is None
    assert registry.ids == (GOOD_ID, OTHER_ID)
    assert registry.models[1].job is None
    with pytest.raises(TypeError):
        alpha.options["x"] = 1  # read-only: predictors must not mutate shared config


def test_shipped_registry_is_valid() -> None:
    registry = load_registry(DEFAULT_MODELS_FILE)
    assert registry.models, "the shipped predictors/models.toml registers a demo model"


def test_registry_path_from_env() -> None:
    assert registry_path({}) == Path(DEFAULT_MODELS_FILE)
    assert registry_path({MODELS_FILE_ENV: "/x/m.toml"}) == Path("/x/m.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models = [", "not valid TOML"),
        ("", "no models registered"),
        ("[other]\nx = 1\n", "unknown top-level key(s) ['other']"),
        ("[models]\nalpha = 3\n", "[models.alpha] must be a table"),
        ('[models.alpha]\npredictor = "pred1"\n', "[models.alpha]: 'id'"),
        ('[models.alpha]\nid = "not-a-uuid"\npredictor = "pred1"\n', "is not a Numerai model id"),
        (f'[models.alpha]\nid = "{GOOD_ID}"\n', "[models.alpha]: 'predictor'"),
        (f'[models.alpha]\nid = "{GOOD_ID}"\npredictor = "../evil"\n', "'predictor' must name"),
        (
            f'[models.alpha]\nid = "{GOOD_ID}"\npredictor = "pred1"\njob = "Bad_Job"\n',
            "'job' 'Bad_Job' is not a valid Cloud Run job name",
        ),
        (
            f'[models.alpha]\nid = "{GOOD_ID}"\npredictor = "pred1"\noptions = 3\n',
            "'options' must be a table",
        ),
        (
            f'[models.alpha]\nid = "{GOOD_ID}"\npredictor = "pred1"\npredicter = "x"\n',
            "unknown key(s) ['predicter']",
        ),
        (
            f'[models.a]\nid = "{GOOD_ID}"\npredictor = "pred1"\n'
            f'[models.b]\nid = "{GOOD_ID}"\npredictor = "pred1"\n',
            "[models.b] id " + GOOD_ID + " is already used by [models.a]",
        ),
    ],
)
def test_malformed_registry_names_file_and_entry(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message
    assert "\n" not in message


def test_missing_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=f"not found \\(set {MODELS_FILE_ENV}\\)"):
        load_registry(tmp_path / "nope.toml")


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(RegistryError, match="cannot read model registry"):
        load_registry(path)
