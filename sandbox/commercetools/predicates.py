"""A small parser and evaluator for commercetools query predicates.

Grammar (the part of commercetools' predicate language the source and tests use):

    expr     := and_expr ("or" and_expr)*
    and_expr := unary ("and" unary)*
    unary    := "not" unary | "(" expr ")" | clause
    clause   := path op value | path "in" "(" value ("," value)* ")"
              | path "is defined" | path "is not defined" | name "(" expr ")"
    value    := "string" | number | true | false | :variable
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]


class PredicateError(ValueError):
    """Malformed predicate or unbound variable (HTTP 400 InvalidInput)."""


TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>-?\d+(?:\.\d+)?)'
    r"|(?P<var>:[A-Za-z_][A-Za-z0-9_]*)|(?P<op>>=|<=|!=|<>|=|>|<)"
    r"|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise PredicateError(f"Malformed predicate near {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def comparable(value: Any) -> Any:
    """Datetimes compare as instants; everything else as is."""
    if isinstance(value, str) and DATETIME.match(value):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(UTC)
    return value


class _Parser:
    def __init__(self, text: str, variables: Mapping[str, str]) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.variables = variables

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def word(self, *words: str) -> bool:
        token = self.peek()
        return bool(token and token[0] == "word" and token[1].lower() in words)

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise PredicateError("Unexpected end of predicate")
        self.pos += 1
        return token

    def expect(self, value: str) -> None:
        token = self.take()
        if token[1] != value:
            raise PredicateError(f"Expected {value!r}, found {token[1]!r}")

    def parse(self) -> Predicate:
        predicate = self.expr()
        if self.peek() is not None:
            raise PredicateError(f"Unexpected {self.peek()[1]!r} in predicate")  # type: ignore[index]
        return predicate

    def expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.word("or"):
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.word("and"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def unary(self) -> Predicate:
        if self.word("not"):
            self.take()
            inner = self.unary()
            return lambda r: not inner(r)
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.expr()
            self.expect(")")
            return inner
        return self.clause()

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return bytes(text[1:-1], "utf-8").decode("unicode_escape")
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "var":
            name = text[1:]
            if name not in self.variables:
                raise PredicateError(f"Unbound input variable :{name} (send var.{name})")
            return self.variables[name]
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise PredicateError(f"Expected a value, found {text!r}")

    def clause(self) -> Predicate:
        kind, path = self.take()
        if kind != "word":
            raise PredicateError(f"Expected a field name, found {path!r}")
        token = self.peek()
        if token == ("punct", "("):  # nested: store(key = "eu-web")
            self.take()
            inner = self.expr()
            self.expect(")")
            return lambda r: _nested(r, path, inner)
        if self.word("in"):
            self.take()
            self.expect("(")
            values = [self.value()]
            while self.peek() == ("punct", ","):
                self.take()
                values.append(self.value())
            self.expect(")")
            wanted = {comparable(v) for v in values}
            return lambda r: comparable(_get(r, path)) in wanted
        if self.word("is"):
            self.take()
            negate = self.word("not")
            if negate:
                self.take()
            if not self.word("defined"):
                raise PredicateError("Expected 'defined'")
            self.take()
            return lambda r: (_get(r, path) is None) == negate
        op_kind, op = self.take()
        if op_kind != "op":
            raise PredicateError(f"Expected an operator after {path}, found {op!r}")
        expected = comparable(self.value())
        return lambda r: _compare(comparable(_get(r, path)), op, expected)


def _get(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _nested(record: Mapping[str, Any], field: str, inner: Predicate) -> bool:
    value = _get(record, field)
    if isinstance(value, list):
        return any(isinstance(item, Mapping) and inner(item) for item in value)
    return isinstance(value, Mapping) and inner(value)


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if actual is None:
        return op in ("!=", "<>")
    if isinstance(actual, int | float) and isinstance(expected, str):
        try:
            expected = float(expected)
        except ValueError:
            return False
    try:
        if op == "=":
            return actual == expected
        if op in ("!=", "<>"):
            return actual != expected
        if op == ">":
            return actual > expected
        if op == ">=":
            return actual >= expected
        if op == "<":
            return actual < expected
        return actual <= expected
    except TypeError:
        return False


def parse_predicate(text: str, variables: Mapping[str, str]) -> Predicate:
    return _Parser(text, variables).parse()
