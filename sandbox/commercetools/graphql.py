"""`POST /{pk}/graphql`: the part of commercetools' GraphQL API a reader of ids needs.

Served: one query operation (named or not, with variable definitions), whose root fields are
query fields of a collection (`customers`, `orders`, `carts`, `payments`, …: arguments
`where`, `sort`, `limit`, `offset`, answered like the REST query of the same collection) or
`inStore(key: …) { customers | orders | carts (…) }`; a result selects `offset`, `count`,
`total`, `exists` and `results { … }` of scalar fields (`id`, `version`, `lastModifiedAt`,
`key`, …; an object-valued field is refused). Aliases, variables (`$name`) and literals work;
fragments, directives and mutations are refused with an error the way a GraphQL server words
them: HTTP 400 with `{"errors": [{"message", "extensions": {"code"}}]}` for a malformed
document, HTTP 200 with `errors` (and `data: null`) when a field is not allowed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.commercetools.predicates import And, PredicateError, parse
from sandbox.commercetools.query import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_OFFSET,
    SORT,
    Query,
    QueryError,
    SortKey,
)

# GraphQL root field → REST collection
ROOT_FIELDS = {
    "customers": "customers",
    "orders": "orders",
    "carts": "carts",
    "payments": "payments",
    "products": "products",
    "discountCodes": "discount-codes",
    "stores": "stores",
    "customerGroups": "customer-groups",
    "typeDefinitions": "types",
    "messages": "messages",
}
IN_STORE_FIELDS = ("customers", "orders", "carts")
TOKEN = re.compile(
    r'\s*(?:(?P<comment>#[^\n]*)|(?P<string>"(?:[^"\\\n]|\\.)*")|(?P<number>-?\d+)'
    r"|(?P<name>[_A-Za-z][_0-9A-Za-z]*)|(?P<punct>[{}()\[\]:!$,=])|(?P<spread>\.\.\.))",
)


class GraphQLError(ValueError):
    def __init__(self, message: str, code: str = "GRAPHQL_VALIDATION_FAILED") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Selection:
    name: str
    alias: str
    arguments: dict[str, Any] = field(default_factory=dict)
    children: list[Selection] = field(default_factory=list)


# --- parsing -------------------------------------------------------------------------


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, at = [], 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        match = TOKEN.match(text, at)
        if not match or match.end() == at:
            raise GraphQLError(
                f"Syntax Error: Unexpected character at {at}.", "GRAPHQL_PARSE_FAILED"
            )
        at = match.end()
        kind = match.lastgroup or ""
        if kind != "comment":
            tokens.append((kind, match.group(kind)))
    return tokens


class _Parser:
    def __init__(self, text: str, variables: Mapping[str, Any]) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.variables = variables

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            found = token[1] if token else "<EOF>"
            raise GraphQLError(
                f"Syntax Error: Expected {value or 'a token'}, found {found}.",
                "GRAPHQL_PARSE_FAILED",
            )
        self.at += 1
        return token

    def skip_commas(self) -> None:
        while self.peek() == ("punct", ","):
            self.at += 1

    def document(self) -> list[Selection]:
        token = self.peek()
        if token and token[0] == "name":
            if token[1] != "query":
                raise GraphQLError(f"The sandbox serves queries only, not '{token[1]}'.")
            self.take()
            if self.peek() and self.peek()[0] == "name":  # type: ignore[index]
                self.take()
            if self.peek() == ("punct", "("):
                self.variable_definitions()
        selections = self.selection_set()
        if self.peek() is not None:
            raise GraphQLError("The sandbox serves one operation per document.")
        return selections

    def variable_definitions(self) -> None:
        self.take("(")
        while self.peek() != ("punct", ")"):
            self.take("$")
            self.take()
            self.take(":")
            self.type_reference()
            if self.peek() == ("punct", "="):
                self.take()
                self.value()
            self.skip_commas()
        self.take(")")

    def type_reference(self) -> None:
        if self.peek() == ("punct", "["):
            self.take()
            self.type_reference()
            self.take("]")
        else:
            self.take()
        if self.peek() == ("punct", "!"):
            self.take()

    def selection_set(self) -> list[Selection]:
        self.take("{")
        selections = []
        while self.peek() != ("punct", "}"):
            if self.peek() == ("spread", "..."):
                raise GraphQLError("The sandbox serves no fragments.")
            selections.append(self.selection())
            self.skip_commas()
        self.take("}")
        if not selections:
            raise GraphQLError("Syntax Error: Expected Name, found }.", "GRAPHQL_PARSE_FAILED")
        return selections

    def selection(self) -> Selection:
        kind, name = self.take()
        if kind != "name":
            raise GraphQLError(
                f"Syntax Error: Expected Name, found {name}.", "GRAPHQL_PARSE_FAILED"
            )
        alias = name
        if self.peek() == ("punct", ":"):
            self.take()
            name = self.take()[1]
        arguments = self.arguments() if self.peek() == ("punct", "(") else {}
        children = self.selection_set() if self.peek() == ("punct", "{") else []
        return Selection(name, alias, arguments, children)

    def arguments(self) -> dict[str, Any]:
        self.take("(")
        arguments = {}
        while self.peek() != ("punct", ")"):
            name = self.take()[1]
            self.take(":")
            arguments[name] = self.value()
            self.skip_commas()
        self.take(")")
        return arguments

    def value(self) -> Any:
        kind, text = self.take()
        if text == "$":
            name = self.take()[1]
            return self.variables.get(name)
        if kind == "string":
            return _unescape(text[1:-1])
        if kind == "number":
            return int(text)
        if text == "[":
            items = []
            while self.peek() != ("punct", "]"):
                items.append(self.value())
                self.skip_commas()
            self.take("]")
            return items
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        raise GraphQLError(f"Syntax Error: Unexpected {text}.", "GRAPHQL_PARSE_FAILED")


def _unescape(text: str) -> str:
    escapes = {'"': '"', "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\b"}
    out, at = [], 0
    while at < len(text):
        char = text[at]
        if char == "\\" and at + 1 < len(text):
            code = text[at + 1]
            if code == "u":
                out.append(chr(int(text[at + 2 : at + 6], 16)))
                at += 6
                continue
            out.append(escapes.get(code, code))
            at += 2
            continue
        out.append(char)
        at += 1
    return "".join(out)


def parse_document(text: str, variables: Mapping[str, Any] | None) -> list[Selection]:
    return _Parser(text, variables or {}).document()


# --- answering -----------------------------------------------------------------------

Run = Callable[[str, Query, str | None], tuple[list[dict[str, Any]], int | None]]


def as_query(arguments: Mapping[str, Any], with_total: bool) -> Query:
    """A collection field's arguments as the REST query they mean."""
    unknown = set(arguments) - {"where", "sort", "limit", "offset"}
    if unknown:
        raise GraphQLError(f"Unknown argument '{sorted(unknown)[0]}'.")
    where = arguments.get("where")
    sort = arguments.get("sort") or []
    limit = arguments.get("limit", DEFAULT_LIMIT)
    offset = arguments.get("offset", 0)
    if not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT:
        raise GraphQLError(f"limit must be between 0 and {MAX_LIMIT}.")
    if not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise GraphQLError(f"offset must be between 0 and {MAX_OFFSET}.")
    keys = []
    for text in [sort] if isinstance(sort, str) else sort:
        match = SORT.match(str(text))
        if not match:
            raise GraphQLError(f"'{text}' is not a sort expression like 'createdAt asc'.")
        keys.append(SortKey(tuple(match[1].split(".")), (match[2] or "asc").lower() == "desc"))
    try:
        nodes = [parse(where)] if isinstance(where, str) and where else []
    except PredicateError as error:
        raise GraphQLError(f"Malformed parameter: where: {error}") from None
    # `a and b` in one string means what two REST `where` parameters mean: split, so the
    # key-set index answers a key-set predicate here too (as a database plans either form)
    while len(nodes) == 1 and isinstance(nodes[0], And):
        nodes = list(nodes[0].parts)
    return Query(limit=limit, offset=offset, with_total=with_total, sort=keys, where=nodes)


def collection_of(selection: Selection, store_key: str | None) -> str:
    names = IN_STORE_FIELDS if store_key else ROOT_FIELDS
    if selection.name not in names:
        where = "type 'InStore'" if store_key else "type 'Query'"
        raise GraphQLError(f"Cannot query field '{selection.name}' on {where}.")
    return ROOT_FIELDS[selection.name]


def answer(
    selections: list[Selection],
    run: Run,
    allowed: Callable[[str, str | None], str | None],
) -> dict[str, Any]:
    """`data` for the document's root selections; `run(collection, query, store)` reads a
    page, `allowed(collection, store)` names the missing scope (None: allowed)."""
    data: dict[str, Any] = {}
    for selection in selections:
        if selection.name == "inStore":
            store = selection.arguments.get("key")
            if not isinstance(store, str) or not store:
                raise GraphQLError("inStore needs a key.")
            data[selection.alias] = {
                child.alias: _query_result(child, store, run, allowed)
                for child in selection.children
            }
        else:
            data[selection.alias] = _query_result(selection, None, run, allowed)
    return data


def _query_result(
    selection: Selection,
    store: str | None,
    run: Run,
    allowed: Callable[[str, str | None], str | None],
) -> dict[str, Any]:
    collection = collection_of(selection, store)
    missing = allowed(collection, store)
    if missing:
        raise GraphQLError(
            f"Insufficient scope. One of the following scopes is missing: {missing}",
            "insufficient_scope",
        )
    wanted = {child.name for child in selection.children}
    unknown = wanted - {"offset", "count", "total", "exists", "results"}
    if unknown:
        raise GraphQLError(
            f"Cannot query field '{sorted(unknown)[0]}' on type '{selection.name}QueryResult'."
        )
    query = as_query(selection.arguments, with_total="total" in wanted or "exists" in wanted)
    records, total = run(collection, query, store)
    result: dict[str, Any] = {}
    for child in selection.children:
        if child.name == "offset":
            result[child.alias] = query.offset
        elif child.name == "count":
            result[child.alias] = len(records)
        elif child.name == "total":
            result[child.alias] = total
        elif child.name == "exists":
            result[child.alias] = bool(total)
        else:
            result[child.alias] = [_project(record, child.children) for record in records]
    return result


def _project(record: Mapping[str, Any], fields: list[Selection]) -> dict[str, Any]:
    if not fields:
        raise GraphQLError("Field 'results' must have a selection of subfields.")
    out = {}
    for wanted in fields:
        value = record.get(wanted.name)
        if wanted.children or isinstance(value, dict | list):
            raise GraphQLError(
                f"The sandbox serves scalar fields of results only, not '{wanted.name}'."
            )
        out[wanted.alias] = value
    return out


def error_body(error: GraphQLError) -> dict[str, Any]:
    return {"errors": [{"message": str(error), "extensions": {"code": error.code}}]}


__all__ = ["GraphQLError", "QueryError", "answer", "error_body", "parse_document"]
