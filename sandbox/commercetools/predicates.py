"""commercetools query predicates (`where=`): lexer, parser to a small AST, evaluation.

The grammar, as documented for the HTTP API (fields descend with parentheses, not dots):

    expr    := and_expr ("or" and_expr)*
    and_expr:= unary ("and" unary)*
    unary   := "not" unary | "(" expr ")" | clause
    clause  := field "(" expr ")"                          nested object or any list element
             | field op value                              op: = != <> > >= < <=
             | field ["not"] "in" (values | :var)
             | field "contains" ["any" | "all"] (values | value)
             | field "is" ["not"] ("defined" | "empty")
             | field "matches" "ignore" "case" value
    values  := "(" value ("," value)* ")"
    value   := "string" | 'string' | number | true | false | :variable

Input variables come from `var.<name>` query parameters (repeat the parameter for a list).
Comparisons are typed: a date-time literal compares as an instant, a string variable is
read as a number or boolean when the field holds one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.commercetools.timefmt import parse_instant

Record = Mapping[str, Any]
Evaluator = Callable[[Any], bool]


class PredicateError(ValueError):
    """A malformed predicate or an unbound input variable (HTTP 400 InvalidInput)."""


# --- AST -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Variable:
    name: str


Value = Literal | Variable


@dataclass(frozen=True)
class Compare:
    field: str
    op: str  # = != > >= < <=
    value: Value


@dataclass(frozen=True)
class In:
    field: str
    values: tuple[Value, ...] | Variable
    negate: bool = False


@dataclass(frozen=True)
class Contains:
    field: str
    mode: str  # "one", "any", "all"
    values: tuple[Value, ...] | Variable


@dataclass(frozen=True)
class Is:
    field: str
    what: str  # "defined" or "empty"
    negate: bool = False


@dataclass(frozen=True)
class MatchesIgnoreCase:
    field: str
    value: Value


@dataclass(frozen=True)
class Nested:
    field: str
    inner: Node


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    inner: Node


Node = Compare | In | Contains | Is | MatchesIgnoreCase | Nested | And | Or | Not


# --- lexer -----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
      | (?P<var>:[A-Za-z_][A-Za-z0-9_-]*)
      | (?P<op>>=|<=|!=|<>|=|>|<)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_-]*)""",
    re.VERBOSE,
)
KEYWORDS = {
    "and",
    "or",
    "not",
    "in",
    "is",
    "defined",
    "empty",
    "contains",
    "any",
    "all",
    "matches",
    "ignore",
    "case",
    "true",
    "false",
}


@dataclass(frozen=True)
class Token:
    kind: str  # string number var op punct word keyword end
    text: str
    column: int


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise PredicateError(_syntax(text[pos], "a field, value or operator", pos + 1))
        kind = match.lastgroup or ""
        if kind != "ws":
            value = match.group(kind)
            if kind == "word" and value.lower() in KEYWORDS:
                kind = "keyword"
            tokens.append(Token(kind, value, pos + 1))
        pos = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def _syntax(found: str, expected: str, column: int) -> str:
    shown = f"'{found}'" if found else "end of input"
    return (
        f"Syntax error while parsing 'where'. Invalid input {shown}, "
        f"expected {expected} (line 1, column {column})"
    )


# --- parser ----------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.pos]

    def keyword(self, *words: str) -> bool:
        return self.token.kind == "keyword" and self.token.text.lower() in words

    def punct(self, char: str) -> bool:
        return self.token.kind == "punct" and self.token.text == char

    def advance(self) -> Token:
        token = self.token
        self.pos += 1
        return token

    def fail(self, expected: str) -> PredicateError:
        return PredicateError(_syntax(self.token.text, expected, self.token.column))

    def expect_punct(self, char: str) -> None:
        if not self.punct(char):
            raise self.fail(f"'{char}'")
        self.advance()

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise self.fail(word)
        self.advance()

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise self.fail("a predicate")
        node = self.expr()
        if self.token.kind != "end":
            raise self.fail("and, or or end of input")
        return node

    def expr(self) -> Node:
        parts = [self.and_expr()]
        while self.keyword("or"):
            self.advance()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.unary()]
        while self.keyword("and"):
            self.advance()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self) -> Node:
        if self.keyword("not"):
            self.advance()
            return Not(self.unary())
        if self.punct("("):
            self.advance()
            inner = self.expr()
            self.expect_punct(")")
            return inner
        return self.clause()

    def clause(self) -> Node:
        if self.token.kind != "word":
            raise self.fail("a field name, not or '('")
        field = self.advance().text
        if self.punct("("):
            self.advance()
            inner = self.expr()
            self.expect_punct(")")
            return Nested(field, inner)
        if self.token.kind == "op":
            op = self.advance().text
            return Compare(field, "!=" if op == "<>" else op, self.value())
        if self.keyword("not"):
            self.advance()
            self.expect_keyword("in")
            return In(field, self.values(), negate=True)
        if self.keyword("in"):
            self.advance()
            return In(field, self.values())
        if self.keyword("contains"):
            self.advance()
            mode = self.advance().text.lower() if self.keyword("any", "all") else "one"
            values = self.values() if mode != "one" or self.punct("(") else (self.value(),)
            return Contains(field, mode, values)
        if self.keyword("is"):
            self.advance()
            negate = self.keyword("not")
            if negate:
                self.advance()
            if not self.keyword("defined", "empty"):
                raise self.fail("defined or empty")
            return Is(field, self.advance().text.lower(), negate)
        if self.keyword("matches"):
            self.advance()
            self.expect_keyword("ignore")
            self.expect_keyword("case")
            return MatchesIgnoreCase(field, self.value())
        raise self.fail("a comparison operator, not, in, contains, is, matches or '('")

    def values(self) -> tuple[Value, ...] | Variable:
        if self.token.kind == "var":
            return Variable(self.advance().text[1:])
        self.expect_punct("(")
        values = [self.value()]
        while self.punct(","):
            self.advance()
            values.append(self.value())
        self.expect_punct(")")
        return tuple(values)

    def value(self) -> Value:
        token = self.token
        if token.kind == "string":
            self.advance()
            return Literal(_unquote(token.text))
        if token.kind == "number":
            self.advance()
            return Literal(float(token.text) if "." in token.text else int(token.text))
        if token.kind == "var":
            self.advance()
            return Variable(token.text[1:])
        if self.keyword("true", "false"):
            self.advance()
            return Literal(token.text.lower() == "true")
        raise self.fail("input parameter or primitive value")


def _unquote(text: str) -> str:
    body = text[1:-1]
    if text[0] == "'":
        body = body.replace('\\"', '"').replace("\\'", "'").replace('"', '\\"')
    try:
        return str(json.loads(f'"{body}"'))
    except json.JSONDecodeError as error:
        raise PredicateError(f"Malformed string literal {text}") from error


def parse(text: str) -> Node:
    return _Parser(text).parse()


# --- binding input variables -----------------------------------------------------------

Variables = Mapping[str, Sequence[str]]


def _resolve_one(value: Value, variables: Variables) -> Any:
    if isinstance(value, Literal):
        return value.value
    bound = variables.get(value.name)
    if not bound:
        raise PredicateError(
            f"Missing value for the input variable ':{value.name}': send it as var.{value.name}"
        )
    if len(bound) != 1:
        raise PredicateError(f"The input variable ':{value.name}' has several values here")
    return bound[0]


def _resolve_many(values: tuple[Value, ...] | Variable, variables: Variables) -> list[Any]:
    if isinstance(values, Variable):
        bound = variables.get(values.name)
        if not bound:
            raise PredicateError(
                f"Missing value for the input variable ':{values.name}': "
                f"send it as var.{values.name}"
            )
        return list(bound)
    return [_resolve_one(v, variables) for v in values]


def resolve_value(value: Value, variables: Variables) -> Any:
    """The literal a value stands for, input variables bound (used by the query planner)."""
    return _resolve_one(value, variables)


# --- evaluation ------------------------------------------------------------------------


class _Expected:
    """A literal prepared for comparison with whatever type the field turns out to hold."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.instant = parse_instant(raw) if isinstance(raw, str) else None

    def against(self, actual: Any) -> tuple[Any, Any] | None:
        """(actual, expected) as comparable values of one type, or None when they cannot be."""
        raw = self.raw
        if isinstance(actual, bool):
            if isinstance(raw, str) and raw.lower() in ("true", "false"):
                raw = raw.lower() == "true"
            return (actual, raw) if isinstance(raw, bool) else None
        if isinstance(actual, int | float):
            if isinstance(raw, str):
                try:
                    raw = float(raw)
                except ValueError:
                    return None
            number = isinstance(raw, int | float) and not isinstance(raw, bool)
            return (actual, raw) if number else None
        if isinstance(actual, str):
            if self.instant is not None:
                moment = parse_instant(actual)
                if moment is not None:
                    return moment, self.instant
            return (actual, raw) if isinstance(raw, str) else None
        return None


def _get(value: Any, field: str) -> Any:
    return value.get(field) if isinstance(value, Mapping) else None


def _elements(value: Any) -> list[Any]:
    """A list field matches when any element does; a single value is a list of one."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _compare(actual: Any, op: str, expected: _Expected) -> bool:
    pair = expected.against(actual)
    return pair is not None and _ORDER[op](*pair)


def compile_predicate(node: Node, variables: Variables) -> Evaluator:
    """An evaluator for one object; raises PredicateError for unbound variables."""
    if isinstance(node, And):
        parts = [compile_predicate(p, variables) for p in node.parts]
        return lambda obj: all(p(obj) for p in parts)
    if isinstance(node, Or):
        parts = [compile_predicate(p, variables) for p in node.parts]
        return lambda obj: any(p(obj) for p in parts)
    if isinstance(node, Not):
        inner = compile_predicate(node.inner, variables)
        return lambda obj: not inner(obj)
    if isinstance(node, Nested):
        inner = compile_predicate(node.inner, variables)
        field = node.field
        return lambda obj: any(inner(item) for item in _elements(_get(obj, field)))
    if isinstance(node, Compare):
        expected, field, op = _Expected(_resolve_one(node.value, variables)), node.field, node.op
        if op == "!=":  # an absent field differs from every value
            return lambda obj: (
                not any(_compare(v, "=", expected) for v in _elements(_get(obj, field)))
            )
        return lambda obj: any(_compare(v, op, expected) for v in _elements(_get(obj, field)))
    if isinstance(node, In):
        wanted = [_Expected(v) for v in _resolve_many(node.values, variables)]
        field, negate = node.field, node.negate

        def is_in(obj: Any) -> bool:
            found = any(_compare(v, "=", w) for v in _elements(_get(obj, field)) for w in wanted)
            return found != negate

        return is_in
    if isinstance(node, Contains):
        wanted = [_Expected(v) for v in _resolve_many(node.values, variables)]
        field, every = node.field, node.mode == "all"

        def contains(obj: Any) -> bool:
            values = _elements(_get(obj, field))
            hits = (any(_compare(v, "=", w) for v in values) for w in wanted)
            return all(hits) if every else any(hits)

        return contains
    if isinstance(node, Is):
        field, negate = node.field, node.negate
        if node.what == "defined":
            return lambda obj: (_get(obj, field) is not None) != negate
        return lambda obj: (not _get(obj, field)) != negate
    if isinstance(node, MatchesIgnoreCase):
        text = str(_resolve_one(node.value, variables)).casefold()
        field = node.field
        return lambda obj: any(
            isinstance(v, str) and v.casefold() == text for v in _elements(_get(obj, field))
        )
    raise PredicateError(f"Unsupported predicate {node!r}")
