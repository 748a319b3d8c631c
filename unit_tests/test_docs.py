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


def quoted_messages(cell: str) -> list[list[str]]:
    """Each `quoted` message of a table cell, as its literal pieces (split at `…`)."""
    messages = []
    for quote in re.findall(r"`([^`]+)`", cell):
        fragments = [
            fragment.strip()
            for fragment in quote.split(PLACEHOLDER)
            if len(re.findall(r"\w", fragment)) >= MIN_FRAGMENT
        ]
        if fragments:
            messages.append(fragments)
    return messages


def is_printed(fragments: list[str], strings: tuple[str, ...]) -> bool:
    """One string of the code holds every piece, in order: a quote stitched together from
    pieces of different messages is a message the code never prints."""
    pattern = re.compile(".*?".join(re.escape(fragment) for fragment in fragments), re.S)
    return any(pattern.search(text) for text in strings)


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
        messages = quoted_messages(cells[0])
        assert messages, f"entry {cells[0]!r} quotes no message"
        invented = [m for m in messages if not is_printed(m, strings)]
        assert not invented, f"{name}: {invented} is printed by no one message of the code"


def test_quotes_are_found_only_where_the_code_has_them() -> None:
    strings = (
        "The API client lacks the scope(s) …. Add them",
        "journal.path: …",
        "CRM One did not accept the sync's calls: …. …",
        "… records were written and checkpointed; the rest will be retried",
    )
    assert quoted_messages("`The API client lacks the scope(s) …. Add them` (x)") == [
        ["The API client lacks the scope(s)", ". Add them"]
    ]
    assert all(is_printed(m, strings) for m in quoted_messages("`…lacks the scope(s) …`"))
    assert not is_printed(["The API client lacks every scope"], strings)
    assert quoted_messages("`ab` and `x: …`") == []
    # Pieces of two messages, or of one message out of order, are no message of the code.
    stitched = quoted_messages("`CRM One did not accept the sync's calls … checkpointed`")
    assert not is_printed(stitched[0], strings)
    assert not is_printed([". Add them", "The API client lacks"], strings)
    assert is_printed(["CRM One did not accept the sync's calls:"], strings)


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


# --- links and image tags -------------------------------------------------------------------

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# Code spans that name a file: relative paths, and any Markdown page (`/work/x/NOTES.md` too).
PATH_SPAN = re.compile(r"`(\.\.?/[^`\s]+|[^`\s]+\.md)`")
IMAGE_TAG = re.compile(r"airbyte-commercetools-crmone/([a-z0-9-]+):([\w.-]+)")
CONNECTOR_NAMES = ("source-commercetools-keyset", "destination-crmone")


def markdown_files() -> list[Path]:
    """The repository's Markdown files (not the virtualenv's, git's or a run's)."""
    return sorted(
        path
        for path in ROOT.rglob("*.md")
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
    )


def anchors(text: str) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to `-`."""
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", text, re.M)
    }


def link_problems(where: Path, text: str) -> list[str]:
    """Links that leave the repository, name a missing file or a missing heading; paths in
    code spans that climb out of the repository."""
    problems = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        file = (where.parent / path).resolve() if path else where
        if not file.is_relative_to(ROOT):
            problems.append(f"{target}: outside the repository")
        elif not file.exists():
            problems.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md":
            page_text = text if file == where else file.read_text()
            if anchor not in anchors(page_text):
                problems.append(f"{target}: no such heading")
    for span in PATH_SPAN.findall(text):  # read from the page's folder or the root
        bases = [Path("/")] if span.startswith("/") else [where.parent, ROOT]
        candidates = [(base / span).resolve() for base in bases]
        if not any(c.is_relative_to(ROOT) and c.exists() for c in candidates):
            problems.append(f"{span}: not a file of the repository")
    return problems


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(path: Path) -> None:
    assert not link_problems(path, path.read_text())


def test_link_check_finds_what_a_reader_could_not_follow() -> None:
    where = ROOT / "sandbox" / "README.md"
    text = (
        "[a](../docs/destination-crmone.md#troubleshooting) [b](https://x.example/y) "
        "[c](../../shared/crmone-api/CONTRACT.md) [d](../docs/nothing.md) "
        "[e](../docs/source-commercetools.md#no-such-heading) `../shared/crmone-api/CONTRACT.md` "
        "`../docs/internals.md` `./run.sh` `/work/shared/DESIGN.md` `docs/internals.md`"
        "\n## Own heading (here)\n[f](#own-heading-here)"
    )
    assert link_problems(where, text) == [
        "../../shared/crmone-api/CONTRACT.md: outside the repository",
        "../docs/nothing.md: no such file",
        "../docs/source-commercetools.md#no-such-heading: no such heading",
        "../shared/crmone-api/CONTRACT.md: not a file of the repository",
        "/work/shared/DESIGN.md: not a file of the repository",
    ]


def test_image_tags_in_docs_and_dockerfile_are_the_version_being_built() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    texts = {path: path.read_text() for path in [*markdown_files(), ROOT / "Dockerfile"]}
    found = [(path, *tag) for path, text in texts.items() for tag in IMAGE_TAG.findall(text)]
    assert found, "no image named in the docs"
    wrong = [
        (str(path.relative_to(ROOT)), name, tag)
        for path, name, tag in found
        if name not in CONNECTOR_NAMES or tag != version
    ]
    assert not wrong, f"image tags other than {version}: {wrong}"
    cdk_tags = [
        tag for text in texts.values() for tag in re.findall(r"image build .*?--tag (\S+)", text)
    ]
    assert all(tag == version for tag in cdk_tags), cdk_tags


# --- the destination's sync modes, as Airbyte's docs template tabulates them ---------------

SYNC_MODE_ROWS = {
    "Full Refresh Sync": "overwrite",
    "Incremental - Append Sync": "append",
    "Incremental - Append + Deduped": "append_dedup",
}


def test_destination_sync_modes_are_the_templates_table_and_agree_with_spec_and_metadata() -> None:
    text = section(page("destination-crmone.md"), "Supported sync modes")
    header = next(line for line in text.splitlines() if line.startswith("|"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "Feature",
        "Supported?(Yes/No)",
        "Notes",
    ]
    rows = {cells[0]: cells[1] for cells in table_rows(text)}
    spec = DestinationCrmOne().spec(logging.getLogger("test"))
    offered = {mode.value for mode in spec.supported_destination_sync_modes}
    for feature, mode in SYNC_MODE_ROWS.items():
        assert rows[feature] == ("Yes" if mode in offered else "No"), feature
    metadata = (ROOT / "connectors" / "destination-crmone" / "metadata.yaml").read_text()
    refreshes = re.search(r"^  supportsRefreshes: (\w+)$", metadata, re.M)
    assert refreshes and rows["Refreshes"] == ("Yes" if refreshes.group(1) == "true" else "No")
    assert rows["Namespaces"] in ("Yes", "No")


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
