"""Query endpoints: `limit`, `offset`, `withTotal`, repeated `sort` and `where`, `var.*`.

Two ways to answer, one result:
- the key-set path, for `sort=<cursor> asc&sort=id asc` with a where of the form
  `<cursor> > :t or (<cursor> = :t and id > :id)` (or `<cursor> > / >= :t`, or no where):
  bisect into the collection's sorted index and read forward, so a page costs what it holds;
- newest first (`sort=<cursor> desc&sort=id desc`): the same index read from its end;
- the general path: evaluate every predicate on every record, then sort.
Without `sort` the order is a hash of the id: stable, but neither insertion nor time order.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from sandbox.commercetools.predicates import (
    And,
    Compare,
    Evaluator,
    Literal,
    Node,
    Or,
    PredicateError,
    Value,
    Variable,
    compile_predicate,
    parse,
    resolve_value,
)
from sandbox.commercetools.store import Collection, Record
from sandbox.commercetools.timefmt import canonical

DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET = 20, 500, 10_000
# With a where, commercetools counts `total` only up to the largest offset.
MAX_FILTERED_TOTAL = 10_000
SORT = re.compile(r"^\s*([A-Za-z_][\w-]*(?:\.[\w-]+)*)(?:\s+(asc|desc))?\s*$", re.IGNORECASE)
LAST_ID = "\U0010ffff"  # sorts after every id
VARIABLE_NAME = re.compile(r"^var[.][a-zA-Z0-9]+$")


class QueryError(ValueError):
    """A malformed query parameter: HTTP 400 InvalidInput with this message."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"Malformed parameter: {parameter}: {problem}")


@dataclass(frozen=True)
class SortKey:
    path: tuple[str, ...]
    descending: bool = False


@dataclass
class Query:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    with_total: bool = True
    sort: list[SortKey] = field(default_factory=list)
    where: list[Node] = field(default_factory=list)
    variables: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Page:
    limit: int
    offset: int
    results: list[Record]
    total: int | None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "limit": self.limit,
            "offset": self.offset,
            "count": len(self.results),
        }
        if self.total is not None:
            body["total"] = self.total
        body["results"] = self.results
        return body


# --- reading the parameters ------------------------------------------------------------


def _integer(args: MultiDict, name: str, default: int, maximum: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(name, f"'{raw}' is not an integer.") from None
    if not 0 <= value <= maximum:
        raise QueryError(name, f"The value must be between 0 and {maximum}, got {value}.")
    return value


def _input_variables(args: MultiDict) -> dict[str, list[str]]:
    """`var.<name>` parameters: names of letters and digits only, never an empty value (the
    API reference documents nothing else, so the sandbox refuses anything else)."""
    variables = {}
    for key in args:
        if not key.startswith("var"):
            continue
        if not VARIABLE_NAME.match(key):
            raise QueryError(key, "input variable names match ^var[.][a-zA-Z0-9]+$.")
        values = args.getlist(key)
        if any(value == "" for value in values):
            raise QueryError(key, "an input variable must not be empty.")
        variables[key[4:]] = values
    return variables


def parse_query(args: MultiDict) -> Query:
    with_total = args.get("withTotal", "true").lower()
    if with_total not in ("true", "false"):
        raise QueryError("withTotal", "must be true or false.")
    sort = []
    for text in args.getlist("sort"):
        match = SORT.match(text)
        if not match:
            raise QueryError("sort", f"'{text}' is not a sort expression like 'createdAt asc'.")
        sort.append(SortKey(tuple(match[1].split(".")), (match[2] or "asc").lower() == "desc"))
    where = []
    for text in args.getlist("where"):
        try:
            where.append(parse(text))
        except PredicateError as error:
            raise QueryError("where", str(error)) from None
    variables = _input_variables(args)
    return Query(
        limit=_integer(args, "limit", DEFAULT_LIMIT, MAX_LIMIT),
        offset=_integer(args, "offset", 0, MAX_OFFSET),
        with_total=with_total == "true",
        sort=sort,
        where=where,
        variables=variables,
    )


# --- answering -------------------------------------------------------------------------


def run(collection: Collection, query: Query, visible: Callable[[Record], bool] | None) -> Page:
    """One page of `collection`; `visible` narrows it (in-store endpoints). Call under the
    store lock; the records returned are immutable and safe to serialise after it."""
    try:
        plan = _keyset_plan(collection.order_field, query)
        remaining = [n for n in query.where if n is not plan[2]] if plan else query.where
        predicates = [compile_predicate(n, query.variables) for n in remaining]
    except PredicateError as error:
        raise QueryError("where", str(error)) from None
    if visible is not None:
        predicates.insert(0, visible)

    def matches(record: Record) -> bool:
        return all(p(record) for p in predicates)

    if plan is not None:
        start, inclusive, _ = plan
        records = collection.ordered_from(start, inclusive=inclusive)
        end = _upper_bound(collection.order_field, query)
        if end is not None:  # an index stops at the range's end instead of scanning on
            records = itertools.takewhile(lambda r: r[collection.order_field] < end, records)
        page, total = _read_forward(records, matches, query)
        if query.with_total and not predicates:
            total = collection.count_from(start, inclusive=inclusive)
    elif _newest_first(collection.order_field, query):  # the index read from its end
        page, total = _read_forward(collection.ordered_backward(), matches, query)
    else:
        rows = [r for r in collection.scrambled() if matches(r)]
        _sort(rows, query.sort)
        page, total = rows[query.offset : query.offset + query.limit], len(rows)
    if not query.with_total:
        return Page(query.limit, query.offset, page, None)
    if query.where:
        total = min(total, MAX_FILTERED_TOTAL)
    return Page(query.limit, query.offset, page, total)


def _read_forward(
    records: Iterable[Record], matches: Evaluator, query: Query
) -> tuple[list[Record], int]:
    """Skip `offset` matches, keep `limit`; keep counting only when a total is wanted."""
    page: list[Record] = []
    seen = 0
    for record in records:
        if not matches(record):
            continue
        if query.offset <= seen < query.offset + query.limit:
            page.append(record)
        seen += 1
        if seen >= query.offset + query.limit and not query.with_total:
            break
    return page, seen


def _keyset_plan(
    order_field: str, query: Query
) -> tuple[tuple[str, str], bool, Node | None] | None:
    """(start key, inclusive, the where it replaces) when the index can answer."""
    wanted = [SortKey((order_field,)), SortKey(("id",))]
    if query.sort not in (wanted, wanted[:1]):
        return None
    if not query.where:
        return ("", ""), True, None
    for node in query.where:
        bound = _lower_bound(node, order_field, query.variables)
        if bound is not None:
            return (*bound, node)
    return None


def _newest_first(order_field: str, query: Query) -> bool:
    """`sort=<cursor> desc&sort=id desc` (or the first alone): the index backwards."""
    wanted = [SortKey((order_field,), descending=True), SortKey(("id",), descending=True)]
    return query.sort in (wanted, wanted[:1])


def _upper_bound(order_field: str, query: Query) -> str | None:
    """The instant of a top-level `<cursor> < :end` (or `<=`: just after it), if any."""
    for node in query.where:
        if isinstance(node, Compare) and node.field == order_field and node.op in ("<", "<="):
            try:
                raw = resolve_value(node.value, query.variables)
            except PredicateError:
                return None
            moment = canonical(raw) if isinstance(raw, str) else None
            if moment is not None:
                return moment if node.op == "<" else moment + LAST_ID
    return None


def _lower_bound(
    node: Node, order_field: str, variables: Mapping[str, list[str]]
) -> tuple[tuple[str, str], bool] | None:
    def instant(value: Value) -> str | None:
        raw = resolve_value(value, variables)
        return canonical(raw) if isinstance(raw, str) else None

    if isinstance(node, Compare) and node.field == order_field and node.op in (">", ">="):
        moment = instant(node.value)
        if moment is None:
            return None
        return ((moment, LAST_ID), False) if node.op == ">" else ((moment, ""), True)
    if not (isinstance(node, Or) and len(node.parts) == 2):
        return None
    for after, tie in (node.parts, node.parts[::-1]):
        if not (
            isinstance(after, Compare)
            and after.field == order_field
            and after.op == ">"
            and isinstance(tie, And)
            and len(tie.parts) == 2
        ):
            continue
        for same, past in (tie.parts, tie.parts[::-1]):
            if (
                isinstance(same, Compare)
                and isinstance(past, Compare)
                and same.field == order_field
                and same.op == "="
                and _same_value(same.value, after.value)
                and past.field == "id"
                and past.op == ">"
            ):
                moment, last_id = instant(after.value), resolve_value(past.value, variables)
                if moment is None or not isinstance(last_id, str):
                    return None
                return (moment, last_id), False
    return None


def _same_value(a: Value, b: Value) -> bool:
    if isinstance(a, Variable) and isinstance(b, Variable):
        return a.name == b.name
    return isinstance(a, Literal) and isinstance(b, Literal) and a.value == b.value


def _sort(rows: list[Record], keys: list[SortKey]) -> None:
    """Multi-key sort: stable sorts from the last key to the first. Missing values first
    when ascending (last when descending), as the platform's store orders them."""
    for key in reversed(keys):
        rows.sort(key=lambda r, k=key: _sort_value(r, k.path), reverse=key.descending)


def _sort_value(record: Record, path: tuple[str, ...]) -> tuple[int, int, Any]:
    value: Any = record
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return (0, 0, 0)
    if isinstance(value, bool | int | float):
        return (1, 0, value)
    if isinstance(value, str):
        return (1, 1, value)
    raise QueryError("sort", f"'{'.'.join(path)}' is not a sortable field.")
