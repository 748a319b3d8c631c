"""The `where` language: parsing, typed evaluation, input variables, and the key-set form."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sandbox.commercetools.predicates import (
    And,
    Compare,
    In,
    Literal,
    Nested,
    Not,
    Or,
    PredicateError,
    Variable,
    compile_predicate,
    parse,
)
from unit_tests.sandbox_commercetools.conftest import KEYSET, read_keyset

CUSTOMER = {
    "id": "b",
    "version": 3,
    "email": "Ana@Example.com",
    "lastModifiedAt": "2025-03-01T10:00:00.500Z",
    "stores": [{"typeId": "store", "key": "eu-web"}, {"typeId": "store", "key": "uk-web"}],
    "custom": {"fields": {"newsletterOptIn": True, "loyaltyTier": "gold"}},
    "addresses": [{"country": "DE", "phone": "030 1234567"}],
}


def matches(text: str, record: dict = CUSTOMER, **variables: str | list[str]) -> bool:
    bound = {k: v if isinstance(v, list) else [v] for k, v in variables.items()}
    return compile_predicate(parse(text), bound)(record)


def test_the_keyset_predicate_parses_to_or_of_and() -> None:
    assert parse(KEYSET) == Or(
        (
            Compare("lastModifiedAt", ">", Variable("t")),
            And(
                (
                    Compare("lastModifiedAt", "=", Variable("t")),
                    Compare("id", ">", Variable("id")),
                )
            ),
        )
    )


def test_precedence_nesting_not_and_in() -> None:
    assert parse('not(a = 1) or b in ("x", "y") and stores(key = "eu-web")') == Or(
        (
            Not(Compare("a", "=", Literal(1))),
            And(
                (
                    In("b", (Literal("x"), Literal("y"))),
                    Nested("stores", Compare("key", "=", Literal("eu-web"))),
                )
            ),
        )
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version = 3", True),
        ("version >= 4", False),
        ("version != 3", False),
        ("version <> 2", True),
        ('stores(key = "uk-web")', True),
        ('stores(key = "us-web")', False),
        ("custom(fields(newsletterOptIn = true))", True),
        ('custom(fields(loyaltyTier in ("silver", "gold")))', True),
        ('custom(fields(loyaltyTier not in ("silver", "gold")))', False),
        ('addresses(country = "DE" and phone is defined)', True),
        ("vatId is not defined", True),
        ("stores is not empty", True),
        ('email matches ignore case "ana@example.COM"', True),
        ('lastModifiedAt > "2025-03-01T10:00:00.499Z"', True),
        ('lastModifiedAt > "2025-03-01T12:00:00.499+02:00"', True),  # an instant, not text
        ('lastModifiedAt >= "2025-03-01T10:00:00.5Z"', True),
        ('lastModifiedAt < "2025-03-01T10:00:00Z"', False),
        ('not (id = "b") or (version > 2 and id < "c")', True),
        ("id = 'b'", True),
    ],
)
def test_evaluation(text: str, expected: bool) -> None:
    assert matches(text) is expected


def test_input_variables_are_typed_by_the_field_they_meet() -> None:
    assert matches("version > :v", v="2")
    assert not matches("version > :v", v="3")
    assert matches("custom(fields(newsletterOptIn = :on))", on="true")
    assert matches("lastModifiedAt = :t", t="2025-03-01T10:00:00.500Z")
    assert matches("custom(fields(loyaltyTier in :tiers))", tiers=["gold", "platinum"])
    assert matches(KEYSET, t="2025-03-01T10:00:00.500Z", id="a")
    assert not matches(KEYSET, t="2025-03-01T10:00:00.500Z", id="b")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "version =",
        "version = 1 and",
        "(version = 1",
        "custom.fields.x = 1",
        "a == 1",
        "a = 1 b = 2",
        'a in "x"',
        "a is nothing",
        "= 1",
    ],
)
def test_syntax_errors_say_where(text: str) -> None:
    with pytest.raises(PredicateError, match="Syntax error while parsing 'where'"):
        parse(text)


def test_an_unbound_variable_is_an_error_naming_the_parameter() -> None:
    with pytest.raises(PredicateError, match=r"var\.t"):
        matches("lastModifiedAt > :t")


def test_http_unbound_variable_and_bad_syntax_are_invalid_input(api, sandbox) -> None:
    for params in ({"where": KEYSET, "var.t": "2025-01-01T00:00:00.000Z"}, {"where": "id >> 1"}):
        response = api.get(f"{sandbox.url}/demo/customers", params=params, timeout=10)
        assert response.status_code == 400
        assert response.json()["errors"][0]["code"] == "InvalidInput"
        assert response.json()["message"].startswith("Malformed parameter: where:")


def test_repeated_where_parameters_are_anded(api, sandbox) -> None:
    params = {"where": ['stores(key = "eu-web")', "version > 1"], "limit": 500}
    got = api.get(f"{sandbox.url}/demo/customers", params=params, timeout=10).json()
    expected = {
        r["id"]
        for r in sandbox.records("customers")
        if r["version"] > 1 and any(s["key"] == "eu-web" for s in r["stores"])
    }
    assert {r["id"] for r in got["results"]} == expected
    assert got["total"] == len(expected)


def test_keyset_paging_returns_every_record_once_in_order(api, sandbox) -> None:
    got = read_keyset(api, f"{sandbox.url}/demo/customers", limit=37)
    expected = sorted(sandbox.records("customers"), key=lambda r: (r["lastModifiedAt"], r["id"]))
    assert [r["id"] for r in got] == [r["id"] for r in expected]


def test_index_path_and_general_evaluator_agree(api, sandbox) -> None:
    """The same key-set query answered by the sorted index and (with a third sort key that
    changes nothing, since (lastModifiedAt, id) is unique) by the general evaluator."""
    records = sandbox.records("orders")
    middle = sorted(records, key=lambda r: (r["lastModifiedAt"], r["id"]))[len(records) // 2]
    base = {
        "where": KEYSET,
        "var.t": middle["lastModifiedAt"],
        "var.id": middle["id"],
        "limit": 500,
    }
    sorts = ["lastModifiedAt asc", "id asc"]
    fast = api.get(f"{sandbox.url}/demo/orders", params={**base, "sort": sorts}, timeout=10)
    slow = api.get(
        f"{sandbox.url}/demo/orders",
        params={**base, "sort": [*sorts, "version asc"]},
        timeout=10,
    )
    assert fast.json()["results"] == slow.json()["results"]
    assert fast.json()["total"] == slow.json()["total"] == len(records) - len(records) // 2 - 1
    assert fast.json()["results"][0]["id"] != middle["id"]


def test_a_datetime_with_an_offset_in_the_keyset_variable_compares_as_an_instant(
    api, sandbox
) -> None:
    records = sorted(sandbox.records("customers"), key=lambda r: (r["lastModifiedAt"], r["id"]))
    last = records[-1]["lastModifiedAt"]
    new_york = timezone(timedelta(hours=-5))
    shifted = datetime.fromisoformat(last).astimezone(new_york).isoformat(timespec="milliseconds")
    assert shifted.endswith("-05:00")
    params = {
        "sort": ["lastModifiedAt asc", "id asc"],
        "where": "lastModifiedAt >= :t",
        "var.t": shifted,
        "limit": 500,
    }
    page = api.get(f"{sandbox.url}/demo/customers", params=params, timeout=10).json()
    assert [r["lastModifiedAt"] for r in page["results"]] == [
        r["lastModifiedAt"] for r in records if r["lastModifiedAt"] == last
    ]


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"var.id": ""}, "var.id: an input variable must not be empty"),
        ({"var.my_id": "x"}, "var.my_id: input variable names match"),
        ({"var.": "x"}, "var.: input variable names match"),
        ({"variable.t": "x"}, "variable.t: input variable names match"),
    ],
)
def test_input_variables_strict_names_and_no_empty_value(api, sandbox, params, problem) -> None:
    response = api.get(
        f"{sandbox.url}/demo/customers",
        params={"where": "id > :id", **params},
        timeout=10,
    )
    assert response.status_code == 400
    assert problem in response.json()["message"]
