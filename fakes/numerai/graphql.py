"""Just enough GraphQL for the fake Numerai.

Not a GraphQL implementation (no types, fragments or directives): it parses a
document into fields with arguments and selections so the fake answers by *what a
query asks for*, and a field the fake lacks fails loudly, naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class GraphQLError(Exception):
    """Becomes ``{"errors": [{"message": str(err)}], "data": null}`` with HTTP 200."""


@dataclass(frozen=True)
class Field:
    name: str
    alias: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)  # literals or Variable
    selections: tuple[Field, ...] = ()

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass(frozen=True)
class Variable:
    name: str


@dataclass(frozen=True)
class Operation:
    kind: str  # "query" | "mutation"
    selections: tuple[Field, ...]

    def root(self) -> Field:
        return self.selections[0]


_TOKEN = re.compile(
    r"""
    (?P<skip>[\s,]+|\#[^\n]*)
    | (?P<spread>\.\.\.)
    | (?P<punct>[{}():\[\]!=$@|&])
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
    """,
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise GraphQLError(f"Syntax error: unexpected character {text[pos]!r} at {pos}")
        pos = match.end()
        kind = match.lastgroup or ""
        if kind != "skip":
            out.append((kind, match.group()))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise GraphQLError("Syntax error: unexpected end of document")
        token = self.tokens[self.i]
        if expected is not None and token[1] != expected:
            raise GraphQLError(f"Syntax error: expected {expected!r}, got {token[1]!r}")
        self.i += 1
        return token

    def name(self) -> str:
        kind, value = self.take()
        if kind != "name":
            raise GraphQLError(f"Syntax error: expected a name, got {value!r}")
        return value

    def document(self) -> Operation:
        kind = "query"
        if self.peek() in ("query", "mutation", "subscription"):
            kind = self.take()[1]
            if self.peek() not in ("(", "{"):
                self.name()  # operation name
            if self.peek() == "(":
                self.skip_balanced("(", ")")  # variable definitions: types are not checked
        selections = self.selection_set()
        if self.peek() is not None:
            raise GraphQLError("fake Numerai: one operation per document, please")
        if not selections:
            raise GraphQLError("Syntax error: empty selection set")
        return Operation(kind, selections)

    def skip_balanced(self, open_: str, close: str) -> None:
        depth = 0
        while True:
            value = self.take()[1]
            if value == open_:
                depth += 1
            elif value == close:
                depth -= 1
                if depth == 0:
                    return

    def selection_set(self) -> tuple[Field, ...]:
        self.take("{")
        fields: list[Field] = []
        while self.peek() != "}":
            if self.peek() == "...":
                raise GraphQLError("fake Numerai does not support fragments")
            fields.append(self.field())
        self.take("}")
        return tuple(fields)

    def field(self) -> Field:
        name = self.name()
        alias = None
        if self.peek() == ":":
            self.take(":")
            alias, name = name, self.name()
        args: dict[str, Any] = {}
        if self.peek() == "(":
            self.take("(")
            while self.peek() != ")":
                arg = self.name()
                self.take(":")
                args[arg] = self.value()
            self.take(")")
        selections = self.selection_set() if self.peek() == "{" else ()
        return Field(name, alias, args, selections)

    def value(self) -> Any:
        kind, token = self.take()
        if token == "$":
            return Variable(self.name())
        if kind == "string":
            return json.loads(token)
        if kind == "number":
            return json.loads(token)
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(token, token)  # enums: str
        if token == "[":
            items = []
            while self.peek() != "]":
                items.append(self.value())
            self.take("]")
            return items
        if token == "{":
            obj = {}
            while self.peek() != "}":
                key = self.name()
                self.take(":")
                obj[key] = self.value()
            self.take("}")
            return obj
        raise GraphQLError(f"Syntax error: unexpected {token!r} in an argument value")


def parse(query: str) -> Operation:
    return _Parser(query).document()


def arguments(f: Field, variables: Mapping[str, Any] | None) -> dict[str, Any]:
    """The field's arguments with ``$variables`` substituted (missing ones are null)."""
    variables = variables or {}

    def resolve(value: Any) -> Any:
        if isinstance(value, Variable):
            return variables.get(value.name)
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    return {name: resolve(value) for name, value in f.args.items()}


def project(value: Any, f: Field, type_name: str) -> Any:
    """Keep only the subfields ``f`` selects; a field the value lacks is an error naming it."""
    if not f.selections or value is None:
        return value
    if isinstance(value, list):
        return [project(item, f, type_name) for item in value]
    if not isinstance(value, Mapping):
        raise GraphQLError(f'Field "{f.name}" of type "{type_name}" has no subfields')
    out = {}
    for sub in f.selections:
        if sub.name == "__typename":
            out[sub.key] = type_name
            continue
        if sub.name not in value:
            raise GraphQLError(
                f'Cannot query field "{sub.name}" on type "{type_name}" '
                f"(not implemented by the fake Numerai)"
            )
        out[sub.key] = project(value[sub.name], sub, sub.name)
    return out


def root_field_name(payload: Any) -> str | None:
    """The first root field of a GraphQL request, for the request log (None if unparsable)."""
    try:
        return parse(payload["query"]).root().name
    except (GraphQLError, KeyError, TypeError):
        return None
