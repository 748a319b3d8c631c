"""The connector pages under docs/ against the code: the sections Airbyte's connector pages have,
troubleshooting entries that quote messages the code really prints, every form field documented,
and a changelog row for the version being built."""

from __future__ import annotations

import ast
import logging
import re
import tomllib
from functools import cache
from pathlib import Path

import pytest

from destination_crmone.destination import DestinationCrmOne
from source_commercetools.source import SourceCommercetools

ROOT = Path(__file__).resolve().parents[1]
PAGES = {
    "source-commercetools.md": (SourceCommercetools, ("source_commercetools",)),
    "destination-crmone.md": (DestinationCrmOne, ("destination_crmone",)),
}
SHARED_PACKAGES = ("connectors_common",)
SECTIONS = (
    "Prerequisites",
    "Setup guide",
    "Supported sync modes",
    "Supported streams",
    "Performance considerations",
    "Limitations",
    "Troubleshooting",
    "Changelog",
)
PLACEHOLDER = "…"
# A fragment must say something: at least this many letters or digits.
MIN_FRAGMENT = 4


def page(name: str) -> str:
    return (ROOT / "docs" / name).read_text()


def section(text: str, title: str) -> str:
    """The body of `## title` up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {title}' section"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the Markdown tables in `text`, as cells."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or re.fullmatch(r"\|[\s|:-]+\|", line.strip()):
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows[1:] if rows else rows


@cache
def code_strings(packages: tuple[str, ...]) -> tuple[str, ...]:
    """Every string the code can print: literals, and f-strings with `…` for each value."""
    found: list[str] = []
    for package in packages + SHARED_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.append(node.value)
                elif isinstance(node, ast.JoinedStr):
                    found.append(
                        "".join(
                            part.value if isinstance(part, ast.Constant) else PLACEHOLDER
                            for part in node.values
                        )
                    )
    return tuple(found)


def quoted_fragments(cell: str) -> list[str]:
    """The literal pieces of each `quoted` message in a table cell (split at `…`)."""
    fragments = []
    for quote in re.findall(r"`([^`]+)`", cell):
        for fragment in quote.split(PLACEHOLDER):
            if len(re.findall(r"\w", fragment)) >= MIN_FRAGMENT:
                fragments.append(fragment.strip())
    return fragments


def is_printed(fragment: str, strings: tuple[str, ...]) -> bool:
    return any(fragment in text for text in strings)


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_has_the_sections_of_an_airbyte_connector_page(name: str) -> None:
    headings = re.findall(r"^## (.+?)\s*$", page(name), re.M)
    missing = [title for title in SECTIONS if title not in headings]
    assert not missing, f"{name} lacks {missing}"
    assert headings[-1] == "Changelog", "the changelog closes the page"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_troubleshooting_quotes_messages_the_code_prints(name: str) -> None:
    strings = code_strings(PAGES[name][1])
    rows = table_rows(section(page(name), "Troubleshooting"))
    assert len(rows) >= 5, "a troubleshooting table with the common messages"
    for cells in rows:
        fragments = quoted_fragments(cells[0])
        assert fragments, f"entry {cells[0]!r} quotes no message"
        invented = [f for f in fragments if not is_printed(f, strings)]
        assert not invented, f"{name}: {invented} is printed nowhere in the code"


def test_fragments_are_found_only_where_the_code_has_them() -> None:
    strings = ("The API client lacks the scope(s) …. Add them", "journal.path: …")
    assert quoted_fragments("`The API client lacks the scope(s) …. Add them` (x)") == [
        "The API client lacks the scope(s)",
        ". Add them",
    ]
    assert all(is_printed(f, strings) for f in quoted_fragments("`…lacks the scope(s) …`"))
    assert not is_printed("The API client lacks every scope", strings)
    assert quoted_fragments("`ab` and `x: …`") == []


@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_form_field_is_documented(name: str) -> None:
    connector = PAGES[name][0]
    spec = connector().spec(logging.getLogger("test")).connectionSpecification
    text = page(name)
    undocumented = [key for key in spec["properties"] if f"`{key}" not in text]
    assert not undocumented, f"{name} does not mention {undocumented}"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_changelog_has_the_version_being_built(name: str) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    rows = table_rows(section(page(name), "Changelog"))
    assert any(cells[0] == version for cells in rows), f"no changelog row for {version}"


def test_every_guarantee_of_internals_names_a_test_that_exists() -> None:
    """docs/internals.md's guarantee table: each `path::test` it names is a test of that file
    (a renamed or deleted test must update the table, which the next merge reads first)."""
    text = (ROOT / "docs" / "internals.md").read_text()
    named = re.findall(r"`([\w/]+\.py)::(\w+)`", text)
    assert len(named) >= 20
    missing = [
        f"{path}::{name}" for path, name in named if f"def {name}(" not in (ROOT / path).read_text()
    ]
    assert not missing, missing
