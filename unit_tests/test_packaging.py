"""Static checks of the Airbyte packaging (no Docker engine here).

The Dockerfile, .dockerignore and metadata.yaml are parsed and held against pyproject.toml
(version, console scripts, packaged modules) and the connectors' specs (allowedHosts keys).
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import re
import shlex
import tomllib
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

BASE_IMAGE = re.compile(
    r"^(?:docker\.io/)?airbyte/python-connector-base:[\w][\w.-]*@sha256:[0-9a-f]{64}$"
)
# Docker repository (lower-case path components) and tag grammar.
DOCKER_REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)+$")
DOCKER_TAG = re.compile(r"^\w[\w.-]{0,127}$")
CONFIG_REF = re.compile(r"\$\{([^}]+)\}")

# What an image may contain, and the trees that must stay out of it.
SHIPPED = frozenset({"pyproject.toml", "README.md", "source_commercetools", "destination_crmone"})
DEV_TREES = ("sandbox", "unit_tests", "integration_tests", "bench", "demo", "docs")

REQUIRED_DATA = (
    "name",
    "definitionId",
    "connectorType",
    "connectorSubtype",
    "dockerRepository",
    "dockerImageTag",
    "documentationUrl",
    "githubIssueLabel",
    "license",
    "releaseStage",
    "supportLevel",
    "tags",
    "connectorBuildOptions",
    "allowedHosts",
)
# Enumerations of Airbyte's metadata schema (ConnectorMetadataDefinitionV0).
CONNECTOR_SUBTYPES = {"api", "database", "datalake", "file", "custom", "message_queue", "unknown"}
RELEASE_STAGES = {"alpha", "beta", "generally_available", "custom"}
SUPPORT_LEVELS = {"community", "certified", "archived"}


# --- Dockerfile parsing --------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    name: str | None
    base: str
    platform: str | None
    instructions: list[Instruction] = field(default_factory=list)


def logical_lines(text: str) -> list[str]:
    """Instructions with `\\` continuations joined; comments and blank lines dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    if pending:
        lines.append(pending.strip())
    return lines


def parse_dockerfile(text: str) -> list[Stage]:
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            tokens = args.split()
            flags = [token for token in tokens if token.startswith("--")]
            rest = [token for token in tokens if not token.startswith("--")]
            platform = next(
                (flag.split("=", 1)[1] for flag in flags if flag.startswith("--platform=")), None
            )
            name = rest[2] if len(rest) == 3 and rest[1].upper() == "AS" else None
            stages.append(Stage(name=name, base=rest[0], platform=platform))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append(Instruction(keyword, args))
    return stages


def assignments(args: str) -> dict[str, str]:
    """`KEY=value KEY2="v 2"` (ENV, LABEL) or the legacy `ENV KEY value` form."""
    tokens = shlex.split(args)
    if tokens and "=" not in tokens[0]:
        return {tokens[0]: " ".join(tokens[1:])}
    return dict(token.split("=", 1) for token in tokens)


def copy_parts(args: str) -> tuple[dict[str, str], list[str], str]:
    """COPY's `--flag=value` options, its sources and its destination."""
    tokens = shlex.split(args)
    flags = dict(token[2:].partition("=")[::2] for token in tokens if token.startswith("--"))
    paths = [token for token in tokens if not token.startswith("--")]
    return flags, paths[:-1], paths[-1]


@cache
def dockerfile() -> list[Stage]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())


def stage(name: str) -> Stage:
    matches = [each for each in dockerfile() if each.name == name]
    assert len(matches) == 1, f"Dockerfile has {len(matches)} stages named {name!r}"
    return matches[0]


def stage_chain(name: str) -> list[Stage]:
    """The stage and the stages it is built FROM, outermost first."""
    names = {each.name for each in dockerfile()}
    chain = [stage(name)]
    while chain[0].base in names:
        chain.insert(0, stage(chain[0].base))
    return chain


def effective(name: str, keyword: str) -> list[Instruction]:
    """Every `keyword` instruction that applies to the image of stage `name`, in order."""
    return [
        instruction
        for each in stage_chain(name)
        for instruction in each.instructions
        if instruction.keyword == keyword
    ]


def external_bases() -> list[Stage]:
    names = {each.name for each in dockerfile()}
    return [each for each in dockerfile() if each.base not in names]


# --- project files -------------------------------------------------------------------------


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def console_scripts() -> dict[str, str]:
    return pyproject()["project"]["scripts"]


def version() -> str:
    return pyproject()["project"]["version"]


@cache
def metadata_documents() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((ROOT / "metadata.yaml").read_text()))


def metadata_for(script: str) -> dict[str, Any]:
    matches = [
        doc["data"]
        for doc in metadata_documents()
        if doc["data"]["dockerRepository"].rsplit("/", 1)[-1] == script
    ]
    assert len(matches) == 1, f"metadata.yaml has {len(matches)} documents for {script}"
    return matches[0]


def spec_properties(script: str) -> dict[str, Any]:
    package = console_scripts()[script].split(":")[0].split(".")[0]
    spec = importlib.import_module(f"{package}.config").spec_schema()
    return spec["properties"]


SCRIPTS = sorted(console_scripts())


# --- Dockerfile ----------------------------------------------------------------------------


def test_parser_reads_stages_continuations_and_assignments() -> None:
    stages = parse_dockerfile(
        "# c\nFROM --platform=linux/amd64 img@sha256:ab AS one\n"
        'RUN a \\\n  # inner comment\n  && b\nENV A="x y" B=z\nFROM one AS two\nUSER u\n'
    )
    assert [(s.name, s.base, s.platform) for s in stages] == [
        ("one", "img@sha256:ab", "linux/amd64"),
        ("two", "one", None),
    ]
    assert stages[0].instructions[0] == Instruction("RUN", "a  && b")
    assert assignments(stages[0].instructions[1].args) == {"A": "x y", "B": "z"}
    assert assignments("KEY some value") == {"KEY": "some value"}
    assert copy_parts("--from=builder --chmod=755 /a /b") == (
        {"from": "builder", "chmod": "755"},
        ["/a"],
        "/b",
    )


def test_base_image_is_airbyte_python_base_pinned_by_digest_for_amd64() -> None:
    bases = external_bases()
    assert bases, "no FROM of an external image"
    for each in bases:
        assert BASE_IMAGE.match(each.base), f"unpinned or foreign base image {each.base}"
        assert each.platform == "linux/amd64", f"FROM {each.base} lacks --platform=linux/amd64"
    assert len({each.base for each in bases}) == 1, "stages start from different base images"


@pytest.mark.parametrize("script", SCRIPTS)
def test_target_runs_the_console_script_as_airbyte(script: str) -> None:
    users = effective(script, "USER")
    assert users, f"target {script} runs as root"
    assert users[-1].args.split(":")[0] == "airbyte"

    entrypoints = effective(script, "ENTRYPOINT")
    assert entrypoints, f"target {script} has no ENTRYPOINT"
    command = json.loads(entrypoints[-1].args)  # exec form: signals reach the connector
    assert isinstance(command, list) and len(command) == 1, command
    executable = PurePosixPath(command[0])
    assert executable.is_absolute(), f"ENTRYPOINT {executable} is not an absolute path"
    assert executable.name == script

    env: dict[str, str] = {}
    for instruction in effective(script, "ENV"):
        env.update(assignments(instruction.args))
    assert env.get("AIRBYTE_ENTRYPOINT") == shlex.join(command)


@pytest.mark.parametrize("script", SCRIPTS)
def test_entrypoint_lies_in_what_the_target_copies_from_the_builder(script: str) -> None:
    executable = PurePosixPath(json.loads(effective(script, "ENTRYPOINT")[-1].args)[0])
    copied = [
        PurePosixPath(destination)
        for flags, _, destination in map(copy_parts, (i.args for i in effective(script, "COPY")))
        if "from" in flags
    ]
    assert any(executable.is_relative_to(each) for each in copied), (executable, copied)


@pytest.mark.parametrize("script", SCRIPTS)
def test_target_labels_match_metadata_and_version(script: str) -> None:
    labels: dict[str, str] = {}
    for instruction in effective(script, "LABEL"):
        labels.update(assignments(instruction.args))
    assert labels.get("io.airbyte.name") == metadata_for(script)["dockerRepository"]
    assert labels.get("io.airbyte.version") == version()


def test_images_copy_only_the_package_sources() -> None:
    for each in dockerfile():
        assert not [i for i in each.instructions if i.keyword == "ADD"], "use COPY, not ADD"
        for instruction in each.instructions:
            if instruction.keyword != "COPY":
                continue
            flags, sources, _ = copy_parts(instruction.args)
            if "from" in flags:
                continue
            for source in sources:
                normalised = PurePosixPath(source).as_posix().removeprefix("./").rstrip("/")
                assert normalised in SHIPPED, f"COPY {source} puts more than the package in"


def test_dockerignore_keeps_dev_trees_out_of_the_context() -> None:
    patterns = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for excluded in (".venv", ".git", *DEV_TREES):
        assert excluded in patterns, f".dockerignore does not exclude {excluded}"
    assert not patterns & SHIPPED, f".dockerignore drops what the build needs: {patterns & SHIPPED}"


def test_installed_distribution_holds_no_dev_code() -> None:
    include = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    for tree in DEV_TREES:
        matching = [pattern for pattern in include if fnmatch.fnmatch(tree, pattern)]
        assert not matching, f"{tree} would be installed into the images by {matching}"
    for script, target in console_scripts().items():
        package = target.split(":")[0].split(".")[0]
        assert any(fnmatch.fnmatch(package, p) for p in include), (
            f"{script}: {package} not packaged"
        )


@pytest.mark.parametrize("script", SCRIPTS)
def test_console_script_resolves_to_a_callable(script: str) -> None:
    module, _, attribute = console_scripts()[script].partition(":")
    assert callable(getattr(importlib.import_module(module), attribute))


# --- metadata.yaml -------------------------------------------------------------------------


def test_metadata_has_one_document_per_connector() -> None:
    documents = metadata_documents()
    assert len(documents) == 2
    assert {doc["data"]["connectorType"] for doc in documents} == {"source", "destination"}
    assert {doc["data"]["dockerRepository"].rsplit("/", 1)[-1] for doc in documents} == set(SCRIPTS)
    for doc in documents:
        assert set(doc) == {"metadataSpecVersion", "data"}
        assert doc["metadataSpecVersion"] == "1.0"
        missing = [key for key in REQUIRED_DATA if doc["data"].get(key) in (None, "", [], {})]
        assert not missing, f"{doc['data'].get('name')}: missing {missing}"


@pytest.mark.parametrize("script", SCRIPTS)
def test_metadata_agrees_with_pyproject_and_dockerfile(script: str) -> None:
    data = metadata_for(script)
    assert data["connectorType"] == script.split("-", 1)[0]
    assert DOCKER_REPOSITORY.match(data["dockerRepository"]), data["dockerRepository"]
    assert isinstance(data["dockerImageTag"], str) and DOCKER_TAG.match(data["dockerImageTag"])
    assert data["dockerImageTag"] == version()
    assert stage(script).name == script  # a build target of that name exists
    assert data["connectorBuildOptions"]["baseImage"] == external_bases()[0].base
    assert data["githubIssueLabel"] == script
    assert data["license"] == pyproject()["project"]["license"]["text"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_metadata_values_are_airbyte_values(script: str) -> None:
    data = metadata_for(script)
    assert data["connectorSubtype"] in CONNECTOR_SUBTYPES
    assert data["releaseStage"] in RELEASE_STAGES
    assert data["supportLevel"] in SUPPORT_LEVELS
    assert {"language:python", "cdk:python"} <= set(data["tags"])
    assert data["registryOverrides"]["oss"]["enabled"] is True


@pytest.mark.parametrize("script", SCRIPTS)
def test_documentation_url_points_at_the_connector_page(script: str) -> None:
    url = metadata_for(script)["documentationUrl"]
    assert url.endswith(f"/{script}.md") or url.endswith(f"/{script}")
    if "://" not in url:
        assert (ROOT / url).is_file(), f"documentationUrl {url} is not a file in the repository"


def test_definition_ids_are_distinct_uuid4() -> None:
    ids = [uuid.UUID(doc["data"]["definitionId"]) for doc in metadata_documents()]
    assert all(each.version == 4 for each in ids), ids
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("script", SCRIPTS)
def test_allowed_hosts_refer_to_real_config_keys(script: str) -> None:
    hosts = metadata_for(script)["allowedHosts"]["hosts"]
    assert hosts and all(isinstance(host, str) and host for host in hosts)
    properties = spec_properties(script)
    references = [ref for host in hosts for ref in CONFIG_REF.findall(host)]
    assert references, "allowedHosts must include the configured URL's host"
    for reference in references:
        node: dict[str, Any] = {"properties": properties}
        for part in reference.split("."):
            assert part in node.get("properties", {}), f"${{{reference}}} is not a config key"
            node = node["properties"][part]
