"""Reading a pickle without running it, and the ``diagnose`` command."""

from __future__ import annotations

import pickle
import platform

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from predictors.model_upload import diagnose, pickle_facts
from tests.model_upload import pickles


def test_modules_referenced_by_reference():
    frame = pd.DataFrame({"w": np.arange(3.0)})  # pickled by reference to pandas classes

    def predict(live_features):
        return live_features @ frame["w"]

    facts = pickle_facts.inspect_pickle(cloudpickle.dumps(predict))

    assert facts.complete and facts.problem is None
    assert facts.protocol == cloudpickle.DEFAULT_PROTOCOL
    assert {"cloudpickle", "numpy", "pandas"} <= set(facts.modules)
    assert "builtins" in facts.modules and "builtins" not in facts.third_party()


def test_modules_cloudpickle_reimports_by_name():
    def predict(live_features):
        return np.clip(live_features, 0, 1)  # the global `np` is pickled as subimport("numpy")

    facts = pickle_facts.inspect_pickle(cloudpickle.dumps(predict))
    assert facts.third_party() == ["cloudpickle", "numpy"]


def test_plain_pickle_of_a_stdlib_object_imports_only_the_standard_library():
    import collections

    facts = pickle_facts.inspect_pickle(pickle.dumps(collections.OrderedDict(a=1), protocol=2))
    assert facts.protocol == 2
    assert facts.modules == ("collections",)
    assert facts.third_party() == []
    assert "imports only the standard library" in pickle_facts.describe_pickle(facts)


def test_code_fields_tell_the_python_that_pickled_the_functions(tmp_path):
    here = pickle_facts.inspect_pickle(cloudpickle.dumps(pickles.feature_mean()))
    assert here.code_fields == (pickle_facts.this_python_code_fields(),) == (18,)
    assert here.python_hint == "Python 3.11 or later"

    old = pickle_facts.inspect_pickle(pickles.python310_pickle(tmp_path / "old.pkl").read_bytes())
    assert old.code_fields == (16,)
    assert old.python_hint == "Python 3.8–3.10"


@pytest.mark.parametrize(
    "data",
    [b"", b"not a pickle at all", cloudpickle.dumps(pickles.feature_mean())[:-40]],
)
def test_broken_bytes_are_reported_incomplete_not_raised(data):
    facts = pickle_facts.inspect_pickle(data)
    assert not facts.complete
    assert facts.problem


def test_runtime_line_names_python_and_installed_versions():
    facts = pickle_facts.PickleFacts(5, ("numpy", "surely_absent_pkg"), (18,), True)
    line = pickle_facts.describe_runtime(facts)
    assert line.startswith(f"this image has Python {platform.python_version()}, cloudpickle ")
    assert f"numpy {np.__version__}" in line
    assert "surely_absent_pkg not installed" in line


def test_cli_accepts_a_good_pickle(tmp_path, capsys):
    path = pickles.write(tmp_path / "ok.pkl", pickles.benchmark_blend("v5_lgbm_ender20"))
    assert diagnose.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "the pickle (protocol 5, functions from Python 3.11 or later)" in out
    assert "loads here: predict() takes 2 argument(s) (live features, live benchmark models)" in out


def test_cli_explains_a_pickle_that_does_not_load(tmp_path, capsys):
    path = pickles.vanished_module_pickle(tmp_path, tmp_path / "needs.pkl")
    assert diagnose.main([str(path)]) == 1
    captured = capsys.readouterr()
    assert f"imports cloudpickle, {pickles.VANISHED_MODULE}" in captured.out
    assert f"needs module '{pickles.VANISHED_MODULE}'" in captured.err


def test_cli_on_a_missing_file(tmp_path, capsys):
    assert diagnose.main([str(tmp_path / "nope.pkl")]) == 1
    assert "cannot read" in capsys.readouterr().err
