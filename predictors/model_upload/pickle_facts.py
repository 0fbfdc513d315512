"""What a Model-Upload pickle needs, read without running it, and why it does not load.

A cloudpickle file records no Python version, but its opcodes say a good deal:

- the pickle protocol (``PROTO``);
- every module it imports while loading: classes and functions pickled *by reference*
  (``lightgbm.basic.Booster`` → ``lightgbm``) and modules cloudpickle re-imports
  (``subimport('sklearn')``);
- the argument count of the ``CodeType(...)`` calls that rebuild pickled functions,
  which changed with Python: 15 fields up to 3.7, 16 in 3.8–3.10, 18 from 3.11 (3.11,
  3.12 and 3.13 cannot be told apart this way).

``inspect_pickle`` reads these by simulating the pickle machine's stack with
``pickletools`` (nothing is imported or executed); ``explain_load_failure`` turns an
unpickling exception into one line naming what the pickle needs and what this image has;
``explain_call_failure`` does the same when the loaded function fails for want of a
package (imported inside it, or a companion such as scikit-learn for lightgbm's
scikit-learn API, which loads without it).

``python -m predictors.model_upload.diagnose PATH`` prints these facts, then runs the
pickle on live-shaped rows, so it can be checked against this image before it is deployed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import pickle
import pickletools
import platform
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Fields of the CodeType(...) call cloudpickle writes for a function, by the Python that
# wrote it (cloudpickle's _code_reduce: co_posonlyargcount arrived in 3.8, co_linetable in
# 3.10 replacing co_lnotab, co_qualname and co_exceptiontable in 3.11).
CODE_FIELDS_BY_PYTHON = {
    15: "Python 3.7 or older",
    16: "Python 3.8–3.10",
    18: "Python 3.11 or later",
    21: "a 'nogil' Python 3.9 build",
}
# Modules that are part of pickle's own machinery, not something a pickle "needs".
_MACHINERY = frozenset({"builtins", "copyreg", "__builtin__", "__main__", "_codecs"})
# cloudpickle re-imports a module (instead of pickling it) through these functions.
_SUBIMPORT = frozenset({"subimport", "dynamic_subimport"})
# Import names whose package is named differently (what to `uv add`). xgboost: the
# CPU-only wheel, the same package without ~470 MiB of CUDA/NCCL libraries.
_DISTRIBUTION_OF = {
    "sklearn": "scikit-learn",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "cv2": "opencv-python",
    "xgboost": "xgboost-cpu",
}
# Modules that load without a package they need once called: a pickle referring to the
# module needs the companion too. lightgbm's scikit-learn API (LGBMRegressor …) unpickles
# without scikit-learn, then predict() fails with "'super' object has no attribute
# 'get_params'". (xgboost's scikit-learn API predicts without it, so it is not listed.)
# module → (import name needed at call time, what uses it)
_COMPANIONS = {
    "lightgbm.sklearn": ("sklearn", "lightgbm's scikit-learn API (LGBMRegressor …)"),
}
# Listing more modules than this in a one-line reason helps no one.
MAX_MODULES_LISTED = 12


@dataclass(frozen=True)
class PickleFacts:
    protocol: int | None
    modules: tuple[str, ...]  # top-level modules the pickle imports while loading, sorted
    code_fields: tuple[int, ...]  # distinct CodeType(...) argument counts seen
    complete: bool  # the opcode stream was read to its STOP
    problem: str | None = None  # why it was not (truncated, not a pickle …)
    references: tuple[str, ...] = ()  # the full dotted module names, sorted

    @property
    def python_hint(self) -> str | None:
        """Which Pythons wrote the pickled functions, when the code objects say."""
        hints = [
            CODE_FIELDS_BY_PYTHON.get(n, f"an unknown Python ({n} fields)")
            for n in self.code_fields
        ]
        return " / ".join(hints) or None

    def third_party(self) -> list[str]:
        """Referenced modules that are not the standard library's."""
        stdlib = sys.stdlib_module_names
        return [m for m in self.modules if m not in stdlib and m not in _MACHINERY]


@dataclass(frozen=True)
class _Global:
    module: str
    name: str


@dataclass(frozen=True)
class _Call:
    func: Any
    args: Any


_MARK = object()
_STRING_OPS = frozenset(
    {
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "UNICODE",
        "BINUNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE8",
    }
)
_TUPLE_SIZES = {"EMPTY_TUPLE": 0, "TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}


def inspect_pickle(data: bytes) -> PickleFacts:
    """Read the facts above from pickle bytes without importing or running anything."""
    machine = _Machine()
    try:
        for op, arg, _pos in pickletools.genops(data):
            machine.step(op, arg)
    except Exception as exc:  # truncated, corrupt, or not a pickle at all
        problem: str | None = str(exc)
    else:
        problem = None
    return PickleFacts(
        machine.protocol,
        tuple(sorted(machine.modules)),
        tuple(sorted(machine.code_fields)),
        problem is None,
        problem,
        tuple(sorted(machine.references)),
    )


class _Machine:
    """The pickle machine's stack and memo, simulated with opaque values: enough to see
    which globals are loaded and which calls are made, never to build an object."""

    def __init__(self) -> None:
        self.protocol: int | None = None
        self.modules: set[str] = set()  # top-level names
        self.references: set[str] = set()  # full dotted names
        self.code_fields: set[int] = set()
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}

    def step(self, op: pickletools.OpcodeInfo, arg: Any) -> None:
        name, stack = op.name, self.stack
        if name == "PROTO":
            self.protocol = arg
        elif name in _STRING_OPS:
            stack.append(arg)
        elif name == "MARK":
            stack.append(_MARK)
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = stack[-1]
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            self.memo[arg] = stack[-1]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(self.memo.get(arg))
        elif name in ("GLOBAL", "INST", "STACK_GLOBAL"):
            self._global(name, arg)
        elif name in _TUPLE_SIZES:
            stack.append(tuple(self._pop(_TUPLE_SIZES[name], name)))
        elif name == "TUPLE":
            stack.append(tuple(self.pop_to_mark()))
        elif name == "REDUCE":
            args, func = stack.pop(), stack.pop()
            self._note_call(func, args)
            stack.append(_Call(func, args))
        elif name == "DUP":
            stack.append(stack[-1])
        else:
            self._generic(op)

    def add_module(self, name: Any) -> None:
        if isinstance(name, str) and name:
            self.modules.add(name.split(".", 1)[0])
            self.references.add(name)

    def pop_to_mark(self) -> list[Any]:
        items = []
        while True:
            item = self.stack.pop()
            if item is _MARK:
                return items[::-1]
            items.append(item)

    def _pop(self, count: int, op_name: str) -> list[Any]:
        if count > len(self.stack):
            raise ValueError(f"{op_name} at an almost empty stack: not a well-formed pickle")
        items = self.stack[len(self.stack) - count :]
        del self.stack[len(self.stack) - count :]
        return items

    def _global(self, name: str, arg: Any) -> None:
        if name == "STACK_GLOBAL":
            attr, module = self.stack.pop(), self.stack.pop()
        else:
            module, _, attr = str(arg).partition(" ")
            if name == "INST":
                self.pop_to_mark()
        self.add_module(module)
        self.stack.append(_Global(str(module), str(attr)))

    def _note_call(self, func: Any, args: Any) -> None:
        if not isinstance(args, tuple):
            return
        if isinstance(func, _Global) and func.name in _SUBIMPORT and args:
            self.add_module(args[0])  # cloudpickle: subimport("lightgbm")
        elif (
            isinstance(func, _Call)
            and isinstance(func.func, _Global)
            and func.func.name == "_builtin_type"
            and func.args == ("CodeType",)
        ):
            # CodeType(*fields) rebuilds a pickled function's code.
            self.code_fields.add(len(args))

    def _generic(self, op: pickletools.OpcodeInfo) -> None:
        """Any other opcode: pop what it consumes, push opaque values for what it produces."""
        before = op.stack_before
        if pickletools.markobject in before:
            self.pop_to_mark()
            below = before.index(pickletools.markobject)
        else:
            below = len(before)
        self._pop(below, op.name)
        self.stack.extend([None] * len(op.stack_after))


def this_python_code_fields() -> int | None:
    """How many CodeType fields this Python's cloudpickle writes (and so expects)."""
    import cloudpickle

    fields = inspect_pickle(cloudpickle.dumps(lambda: None)).code_fields
    return fields[0] if fields else None


def installed_versions(modules: Iterable[str]) -> dict[str, str]:
    """Import name → installed distribution version, or "not installed"."""
    providers = importlib.metadata.packages_distributions()
    versions = {}
    for module in modules:
        dists = providers.get(module) or [_DISTRIBUTION_OF.get(module, module)]
        try:
            versions[module] = importlib.metadata.version(dists[0])
        except importlib.metadata.PackageNotFoundError:
            versions[module] = "not installed"
    return versions


def add_hint(module: str) -> str:
    """How to get ``module`` into the image, e.g. "uv add --optional job scikit-learn"."""
    dist = _DISTRIBUTION_OF.get(module, module)
    return f"add it to the job extra (uv add --optional job {dist}) and rebuild the image"


def importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def missing_companions(facts: PickleFacts) -> list[str]:
    """E.g. "lightgbm's scikit-learn API (…) needs scikit-learn, which this image does not
    have: add it …" for each companion the pickle's libraries need and this image lacks."""
    found = []
    for module, (needed, what) in _COMPANIONS.items():
        if module in facts.references and not importable(needed):
            dist = _DISTRIBUTION_OF.get(needed, needed)
            found.append(
                f"{what} needs {dist} (module {needed!r}), which this image does not have: "
                f"{add_hint(needed)}"
            )
    return found


def explain_call_failure(path: Path, exc: BaseException) -> str | None:
    """One line when the pickled function failed for want of a package; None otherwise
    (the function's own error then stands, with its traceback)."""
    raised = f"predict() raised {type(exc).__name__}: {exc}"
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".", 1)[0]
        if not importable(top):
            return f"pickle {path}: {raised} — it needs module {top!r}: {add_hint(top)}"
    try:
        facts = inspect_pickle(path.read_bytes())
    except OSError:
        return None
    companions = missing_companions(facts)
    if companions:
        return f"pickle {path}: {raised} — {'; '.join(companions)}"
    return None


def describe_runtime(facts: PickleFacts) -> str:
    """E.g. "this image has Python 3.11.7, cloudpickle 3.1.3, pandas 3.1.1"."""
    wanted = ["cloudpickle", "pandas", "numpy", *facts.third_party()]
    versions = installed_versions(dict.fromkeys(wanted))
    listed = ", ".join(f"{m} {v}" for m, v in list(versions.items())[:MAX_MODULES_LISTED])
    return f"this image has Python {platform.python_version()}, {listed}"


def describe_pickle(facts: PickleFacts) -> str:
    """E.g. "the pickle (protocol 5, functions from Python 3.8–3.10) imports lightgbm, numpy"."""
    traits = []
    if facts.protocol is not None:
        traits.append(f"protocol {facts.protocol}")
    if facts.python_hint:
        traits.append(f"functions from {facts.python_hint}")
    modules = facts.third_party()
    shown = ", ".join(modules[:MAX_MODULES_LISTED])
    more = (
        f" and {len(modules) - MAX_MODULES_LISTED} more"
        if len(modules) > MAX_MODULES_LISTED
        else ""
    )
    imports = f" imports {shown}{more}" if modules else " imports only the standard library"
    return f"the pickle ({', '.join(traits) or 'no protocol header'}){imports}"


def explain_load_failure(path: Path, data: bytes, exc: BaseException) -> str:
    """One line: what went wrong, what the pickle needs, what this image has."""
    if not data:
        return f"pickle {path} is empty (0 bytes)"
    facts = inspect_pickle(data)
    context = f"{describe_pickle(facts)}; {describe_runtime(facts)}"
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".", 1)[0]
        if top == exc.name or installed_versions([top])[top] == "not installed":
            return (
                f"pickle {path} needs module {top!r}, which this image does not have: "
                f"{add_hint(top)} — {context}"
            )
        return (
            f"pickle {path} needs module {exc.name!r}, which the installed {top} "
            f"{installed_versions([top])[top]} does not have: it was pickled with another "
            f"version of {top} — {context}"
        )
    if facts.protocol is not None and facts.protocol > pickle.HIGHEST_PROTOCOL:
        return (
            f"pickle {path} uses protocol {facts.protocol}, newer than this Python reads "
            f"(up to {pickle.HIGHEST_PROTOCOL}): it was made by a newer Python — {context}"
        )
    if not facts.complete:
        return (
            f"pickle {path} is truncated or not a pickle ({len(data)} bytes; "
            f"{type(exc).__name__}: {exc}) — re-upload or re-create the file"
        )
    expected = this_python_code_fields()
    mismatch = [n for n in facts.code_fields if expected is not None and n != expected]
    if mismatch:
        made_by = CODE_FIELDS_BY_PYTHON.get(
            mismatch[0], f"a Python writing {mismatch[0]} code fields"
        )
        return (
            f"pickle {path} holds functions pickled by {made_by}, which Python "
            f"{platform.python_version()} cannot rebuild ({type(exc).__name__}: {exc}): build a "
            f"job image for that Python (docs/model-uploads.md) — {context}"
        )
    if isinstance(exc, AttributeError):
        return (
            f"pickle {path} refers to something a library here lacks ({exc}): it was pickled "
            f"with other library versions — {context}"
        )
    return f"pickle {path} cannot be loaded ({type(exc).__name__}: {exc}) — {context}"
