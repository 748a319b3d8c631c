"""Static checks of the Airbyte packaging (no Docker engine here).

The Dockerfile, .dockerignore, requirements.lock and the connectors' metadata.yaml files are
parsed and held against pyproject.toml (version, dependencies, console scripts, packaged
modules), the connectors' specs (documentationUrl, allowedHosts keys), Airbyte's metadata schema
(ConnectorMetadataDefinitionV0, restated in unit_tests/schemas/) and airbyte-cdk's own reader of
metadata.yaml (`MetadataFile`, used by `airbyte-cdk image build` and `image test`).
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import tomllib
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from airbyte_cdk.models.connector_metadata import MetadataFile
from airbyte_cdk.utils.connector_paths import resolve_connector_name_and_directory
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]

# One metadata.yaml per connector; the repository root is the source's connector directory.
METADATA_FILES = {
    "source-commercetools-keyset": ROOT / "metadata.yaml",
    "destination-crmone": ROOT / "connectors" / "destination-crmone" / "metadata.yaml",
}
# Each connector's console script (named after the connector) and the class whose `spec`
# Airbyte runs.
CONNECTOR_CLASSES = {
    "source-commercetools-keyset": "source_commercetools.source:SourceCommercetools",
    "destination-crmone": "destination_crmone.destination:DestinationCrmOne",
}
# Older names of the scripts, kept so that existing commands and configs go on working.
SCRIPT_ALIASES = {"source-commercetools": "source-commercetools-keyset"}
METADATA_SCHEMA = ROOT / "unit_tests" / "schemas" / "connector_metadata_v0.json"
# Airbyte's own connectors of the same service, whose names ours must not take.
OFFICIAL_NAMES = {"source-commercetools": "commercetools"}

BASE_IMAGE = re.compile(
    r"^(?:docker\.io/)?airbyte/python-connector-base:[\w][\w.-]*@sha256:[0-9a-f]{64}$"
)
# Docker repository (lower-case path components) and tag grammar.
DOCKER_REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)+$")
DOCKER_TAG = re.compile(r"^\w[\w.-]{0,127}$")
CONFIG_REF = re.compile(r"\$\{([^}]+)\}")
VARIABLE = re.compile(r"\$\{?(\w+)\}?")

# What an image may contain, and the trees that must stay out of it.
SHIPPED = frozenset(
    {
        "pyproject.toml",
        "README.md",
        "requirements.lock",
        "connectors_common",
        "source_commercetools",
        "destination_crmone",
    }
)
DEV_TREES = ("sandbox", "unit_tests", "integration_tests", "bench", "demo", "docs")


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


@dataclass
class Dockerfile:
    global_args: dict[str, str | None]  # ARGs before the first FROM, with their defaults
    stages: list[Stage]


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


def parse_dockerfile(text: str) -> Dockerfile:
    global_args: dict[str, str | None] = {}
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
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            name, has_default, default = args.partition("=")
            global_args[name] = default.strip('"') if has_default else None
        else:
            stages[-1].instructions.append(Instruction(keyword, args))
    return Dockerfile(global_args, stages)


def expand(value: str, build_args: dict[str, str | None]) -> str:
    """`${NAME}` in a FROM line, as BuildKit expands it from the global ARGs."""

    def replace(match: re.Match[str]) -> str:
        resolved = build_args.get(match.group(1))
        assert resolved, f"${{{match.group(1)}}} has no value"
        return resolved

    return VARIABLE.sub(replace, value)


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
def dockerfile() -> Dockerfile:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())


def stage(name: str) -> Stage:
    matches = [each for each in dockerfile().stages if each.name == name]
    assert len(matches) == 1, f"Dockerfile has {len(matches)} stages named {name!r}"
    return matches[0]


def stage_chain(name: str) -> list[Stage]:
    """The stage and the stages it is built FROM, outermost first."""
    names = {each.name for each in dockerfile().stages}
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


def default_target(build_args: dict[str, str | None]) -> str:
    """The stage `docker build` without --target produces: the last one, followed to the named
    stage it is FROM when it adds nothing itself."""
    last = dockerfile().stages[-1]
    base = expand(last.base, build_args)
    if last.name is None and not last.instructions:
        return stage(base).name or base
    return last.name or base


def external_bases() -> list[str]:
    names = {each.name for each in dockerfile().stages}
    bases = [expand(each.base, dockerfile().global_args) for each in dockerfile().stages]
    return [base for base in bases if base not in names]


# --- project files -------------------------------------------------------------------------


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def console_scripts() -> dict[str, str]:
    return pyproject()["project"]["scripts"]


def version() -> str:
    return pyproject()["project"]["version"]


@cache
def metadata(connector: str) -> dict[str, Any]:
    documents = list(yaml.safe_load_all(METADATA_FILES[connector].read_text()))
    assert len(documents) == 1, f"{METADATA_FILES[connector]} holds {len(documents)} documents"
    return documents[0]


def data(connector: str) -> dict[str, Any]:
    return metadata(connector)["data"]


def entrypoint_script(connector: str) -> str:
    """The console script the connector's image runs."""
    return PurePosixPath(json.loads(effective(connector, "ENTRYPOINT")[-1].args)[0]).name


def connector_class(connector: str) -> Any:
    module, _, name = CONNECTOR_CLASSES[entrypoint_script(connector)].partition(":")
    return getattr(importlib.import_module(module), name)


def spec(connector: str) -> Any:
    return connector_class(connector)().spec(logging.getLogger("test"))


CONNECTORS = sorted(METADATA_FILES)


# --- Dockerfile ----------------------------------------------------------------------------


def test_parser_reads_global_args_stages_continuations_and_assignments() -> None:
    parsed = parse_dockerfile(
        "# c\nARG IMG=img@sha256:ab\nARG PICK\nFROM --platform=linux/amd64 ${IMG} AS one\n"
        'RUN a \\\n  # inner comment\n  && b\nENV A="x y" B=z\nFROM one AS two\nUSER u\n'
        "FROM ${PICK}\n"
    )
    assert parsed.global_args == {"IMG": "img@sha256:ab", "PICK": None}
    stages = parsed.stages
    assert [(s.name, s.base, s.platform) for s in stages] == [
        ("one", "${IMG}", "linux/amd64"),
        ("two", "one", None),
        (None, "${PICK}", None),
    ]
    assert expand(stages[0].base, parsed.global_args) == "img@sha256:ab"
    assert expand(stages[2].base, {"PICK": "two"}) == "two"
    with pytest.raises(AssertionError):
        expand(stages[2].base, parsed.global_args)
    assert stages[0].instructions[0] == Instruction("RUN", "a  && b")
    assert assignments(stages[0].instructions[1].args) == {"A": "x y", "B": "z"}
    assert assignments("KEY some value") == {"KEY": "some value"}
    assert copy_parts("--from=builder --chmod=755 /a /b") == (
        {"from": "builder", "chmod": "755"},
        ["/a"],
        "/b",
    )


def test_base_image_is_airbyte_python_base_pinned_by_digest_for_every_platform() -> None:
    bases = external_bases()
    assert bases, "no FROM of an external image"
    assert len(set(bases)) == 1, "stages start from different base images"
    assert BASE_IMAGE.match(bases[0]), f"unpinned or foreign base image {bases[0]}"
    forced = [each.base for each in dockerfile().stages if each.platform]
    assert not forced, f"FROM --platform forces one architecture on {forced}"
    # airbyte-cdk image build passes metadata's baseImage as BASE_IMAGE: the same image.
    assert "BASE_IMAGE" in dockerfile().global_args
    for connector in CONNECTORS:
        assert data(connector)["connectorBuildOptions"]["baseImage"] == bases[0]


@pytest.mark.parametrize("connector", CONNECTORS)
def test_connector_name_build_arg_selects_the_connector_stage(connector: str) -> None:
    """`airbyte-cdk image build` builds without --target and passes CONNECTOR_NAME."""
    build_args = {**dockerfile().global_args, "CONNECTOR_NAME": connector}
    assert default_target(build_args) == connector


def test_plain_build_has_a_default_target() -> None:
    assert default_target(dockerfile().global_args) in CONNECTORS


@pytest.mark.parametrize("connector", CONNECTORS)
def test_target_runs_the_console_script_as_airbyte(connector: str) -> None:
    users = effective(connector, "USER")
    assert users, f"target {connector} runs as root"
    assert users[-1].args.split(":")[0] == "airbyte"

    entrypoints = effective(connector, "ENTRYPOINT")
    assert entrypoints, f"target {connector} has no ENTRYPOINT"
    command = json.loads(entrypoints[-1].args)  # exec form: signals reach the connector
    assert isinstance(command, list) and len(command) == 1, command
    executable = PurePosixPath(command[0])
    assert executable.is_absolute(), f"ENTRYPOINT {executable} is not an absolute path"
    assert executable.name in console_scripts()

    env: dict[str, str] = {}
    for instruction in effective(connector, "ENV"):
        env.update(assignments(instruction.args))
    assert env.get("AIRBYTE_ENTRYPOINT") == shlex.join(command)


@pytest.mark.parametrize("connector", CONNECTORS)
def test_entrypoint_lies_in_what_the_target_copies_from_the_builder(connector: str) -> None:
    executable = PurePosixPath(json.loads(effective(connector, "ENTRYPOINT")[-1].args)[0])
    copied = [
        PurePosixPath(destination)
        for flags, _, destination in map(copy_parts, (i.args for i in effective(connector, "COPY")))
        if "from" in flags
    ]
    assert any(executable.is_relative_to(each) for each in copied), (executable, copied)


@pytest.mark.parametrize("connector", CONNECTORS)
def test_target_labels_match_metadata_and_version(connector: str) -> None:
    labels: dict[str, str] = {}
    for instruction in effective(connector, "LABEL"):
        labels.update(assignments(instruction.args))
    assert labels.get("io.airbyte.name") == data(connector)["dockerRepository"]
    assert labels.get("io.airbyte.version") == version()


def test_images_copy_only_the_package_sources() -> None:
    for each in dockerfile().stages:
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
                assert (ROOT / normalised).exists(), f"COPY {source}: not in the repository"


def test_images_make_no_local_directory_for_the_journal() -> None:
    """The journal must not default to a disk the container loses (issue #7)."""
    for each in dockerfile().stages:
        for instruction in each.instructions:
            if instruction.keyword == "RUN":
                assert "/local" not in instruction.args, instruction.args
            if instruction.keyword in ("VOLUME", "WORKDIR"):
                assert not instruction.args.strip('[]" ').startswith("/local"), instruction.args


def test_builder_installs_the_lock_with_hashes_then_the_package_without_deps() -> None:
    runs = [i.args for i in stage("builder").instructions if i.keyword == "RUN"]
    locked = [run for run in runs if "--require-hashes" in run]
    assert locked, "no `pip install --require-hashes` in the builder"
    assert "-r requirements.lock" in " ".join(locked[0].split())
    package = [run for run in runs if re.search(r"pip install\b.*\s\.$", " ".join(run.split()))]
    assert package, "the builder does not install the package"
    assert "--no-deps" in package[-1], "installing the package must not resolve anything"
    assert runs.index(locked[0]) < runs.index(package[-1])


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


@pytest.mark.parametrize("script", sorted(console_scripts()))
def test_console_script_resolves_to_a_callable(script: str) -> None:
    module, _, attribute = console_scripts()[script].partition(":")
    assert callable(getattr(importlib.import_module(module), attribute))


# --- the lockfiles ------------------------------------------------------------------------

# requirements.lock: what the images install; requirements-dev.lock: what ./run.sh installs
# (runtime, dev extras and build requirements). Both regenerated by `./run.sh lock`.
RUNTIME_LOCK, DEV_LOCK = "requirements.lock", "requirements-dev.lock"


@cache
def lock(name: str = RUNTIME_LOCK) -> dict[str, tuple[str, str, list[str]]]:
    """name -> (pinned version, environment marker, hashes) of a lockfile."""
    pins: dict[str, tuple[str, str, list[str]]] = {}
    text = (ROOT / name).read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        hashes = re.findall(r"--hash=(sha256:[0-9a-f]{64})", line)
        requirement = Requirement(re.sub(r"\s--hash=\S+", "", line))
        pinned = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        assert len(pinned) == 1, f"{name}: {line!r} is not pinned with =="
        marker = str(requirement.marker or "")
        key = canonicalize_name(requirement.name)
        if key in pins and not requirement.marker.evaluate({"python_full_version": "3.11.0"}):
            continue  # an entry for another Python than the image's
        pins[key] = (pinned[0], marker, hashes)
    return pins


def dev_requirements() -> list[str]:
    return pyproject()["project"]["optional-dependencies"]["dev"]


def runtime_and_build_requirements() -> list[str]:
    return [*pyproject()["project"]["dependencies"], *pyproject()["build-system"]["requires"]]


def lock_problems(requirement: str, pins: dict[str, tuple[str, str, list[str]]]) -> list[str]:
    """Why `pins` does not satisfy `requirement` (absent, pinned outside its range, an extra's
    package missing)."""
    parsed = Requirement(requirement)
    name = canonicalize_name(parsed.name)
    if name not in pins:
        return [f"{parsed.name} is not locked: run ./run.sh lock"]
    pinned = pins[name][0]
    problems = []
    if not parsed.specifier.contains(pinned, prereleases=True):
        problems.append(f"{parsed.name}=={pinned} is outside {parsed.specifier}")
    for extra in parsed.extras:  # psycopg[binary] -> psycopg-binary
        if canonicalize_name(f"{parsed.name}-{extra}") not in pins:
            problems.append(f"{parsed.name}[{extra}]: {parsed.name}-{extra} is not locked")
    return problems


@pytest.mark.parametrize("name", [RUNTIME_LOCK, DEV_LOCK])
def test_lock_pins_every_package_with_a_hash(name: str) -> None:
    assert lock(name), f"{name} is empty"
    for package, (_, _, hashes) in lock(name).items():
        assert hashes, f"{name}: {package} has no --hash"


@pytest.mark.parametrize("requirement", runtime_and_build_requirements())
def test_lock_covers_every_runtime_and_build_dependency(requirement: str) -> None:
    assert not lock_problems(requirement, lock(RUNTIME_LOCK))


@pytest.mark.parametrize("requirement", runtime_and_build_requirements() + dev_requirements())
def test_dev_lock_covers_every_dependency_and_dev_tool(requirement: str) -> None:
    assert not lock_problems(requirement, lock(DEV_LOCK))


def test_lock_check_finds_a_missing_or_out_of_range_pin() -> None:
    pins = {"orjson": ("2.0.0", "", ["sha256:" + "0" * 64]), "psycopg": ("3.2.1", "", [])}
    assert lock_problems("orjson>=3.10,<4", pins) == ["orjson==2.0.0 is outside <4,>=3.10"]
    assert lock_problems("backoff>=2.2", pins) == ["backoff is not locked: run ./run.sh lock"]
    assert lock_problems("psycopg[binary]>=3.2,<4", pins) == [
        "psycopg[binary]: psycopg-binary is not locked"
    ]
    assert lock_problems("psycopg>=3.2", pins) == []


def test_tests_run_on_the_versions_the_images_ship() -> None:
    """Every package of the images' lock is pinned to the same version in the dev lock."""
    dev = lock(DEV_LOCK)
    differing = {
        name: (version, dev.get(name, ("absent",))[0])
        for name, (version, _, _) in lock(RUNTIME_LOCK).items()
        if dev.get(name, ("absent",))[0] != version
    }
    assert not differing, f"requirements.lock vs requirements-dev.lock: {differing}"


@pytest.mark.parametrize("name", [RUNTIME_LOCK, DEV_LOCK])
def test_lock_matches_the_image_python(name: str) -> None:
    """Every locked package installs on the image's Python (3.11, see requires-python)."""
    requires_python = pyproject()["project"]["requires-python"]
    assert "3.11" in requires_python
    environment = {"python_version": "3.11", "python_full_version": "3.11.0"}
    for package, (_, marker, _) in lock(name).items():
        if marker and "python" in marker:
            assert Requirement(f"{package}; {marker}").marker.evaluate(environment), package


# --- run.sh: the README's commands install from the dev lock --------------------------------


def shell_function(script: str, name: str) -> str:
    match = re.search(rf"^{name}\(\) \{{\n(.*?)^\}}", script, re.M | re.S)
    assert match, f"run.sh has no function {name}"
    return match.group(1)


def pip_installs(body: str) -> list[list[str]]:
    """The arguments of each `pip install` in a shell snippet (continuations joined)."""
    joined = body.replace("\\\n", " ")
    return [
        shlex.split(match.group(1), comments=True)
        for match in re.finditer(r"-m pip install ([^\n;&|]*)", joined)
    ]


def test_run_sh_installs_the_dev_lock_with_hashes_then_the_project_alone() -> None:
    script = (ROOT / "run.sh").read_text()
    body = shell_function(script, "ensure_venv")
    installs = pip_installs(body)
    assert len(installs) == 3, installs
    pip, locked, project = installs
    # pip first, from its own entry of the dev lock (hashed as well)
    assert "--require-hashes" in pip and pip[pip.index("-r") + 1] == ".venv/pip.lock"
    assert re.search(r"/\^pip==/ .*requirements-dev\.lock >\.venv/pip\.lock", body, re.S)
    assert "pip" in lock(DEV_LOCK)
    assert "--require-hashes" in locked and locked[locked.index("-r") + 1] == DEV_LOCK
    assert "--no-deps" in project and "--no-build-isolation" in project
    assert project[-2:] == ["-e", "."]
    assert not [args for args in pip_installs(script) if args not in installs], (
        "run.sh installs something outside the lock"
    )
    # A changed lock reinstalls: the stamp is older than either input.
    assert f"{DEV_LOCK} -nt" in shell_function(script, "ensure_venv")
    for command in ("test", "demo"):
        branch = re.search(rf"^  {command}\)\n(.*?);;", script, re.M | re.S)
        assert branch and "ensure_venv" in branch.group(1), command


def test_run_sh_lock_regenerates_both_lockfiles_from_pyproject() -> None:
    body = shell_function((ROOT / "run.sh").read_text(), "lock")
    compiles = re.findall(r"uv pip compile pyproject\.toml .*?-o (\S+)", body, re.S)
    assert compiles == [DEV_LOCK, RUNTIME_LOCK]
    assert "--generate-hashes" in body and "--extra dev" in body
    assert f"-c {DEV_LOCK}" in body  # the images' lock takes the dev lock's versions
    readme = (ROOT / "README.md").read_text()
    assert "./run.sh lock" in readme


def test_pip_install_parser_reads_flags_and_continuations() -> None:
    snippet = "x\n  .venv/bin/python -m pip install --quiet \\\n  -r a.lock  # why\ny && z"
    assert pip_installs(snippet) == [["--quiet", "-r", "a.lock"]]


# --- metadata.yaml -------------------------------------------------------------------------


@cache
def metadata_validator() -> jsonschema.Draft7Validator:
    checker = jsonschema.FormatChecker()

    @checker.checks("uri")
    def _absolute_uri(value: object) -> bool:
        parts = urlsplit(str(value))
        return bool(parts.scheme and (parts.netloc or parts.scheme in ("urn", "mailto")))

    schema = json.loads(METADATA_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=checker)


def test_metadata_schema_rejects_what_airbyte_rejects() -> None:
    good = metadata(CONNECTORS[0])
    broken = [
        {**good, "extra": 1},
        {**good, "data": {**good["data"], "documentationUrl": "docs/page.md"}},
        {**good, "data": {**good["data"], "definitionId": "not-a-uuid"}},
        {**good, "data": {**good["data"], "releaseStage": "stable"}},
        {**good, "data": {**good["data"], "registries": {}}},
        {**good, "data": {**good["data"], "supportsRefreshes": "no"}},
        {**good, "data": {k: v for k, v in good["data"].items() if k != "githubIssueLabel"}},
    ]
    assert not list(metadata_validator().iter_errors(good))
    for document in broken:
        assert list(metadata_validator().iter_errors(document)), document


@pytest.mark.parametrize("connector", CONNECTORS)
def test_metadata_file_is_one_valid_connector_metadata_document(connector: str) -> None:
    errors = [
        f"{'.'.join(map(str, error.absolute_path))}: {error.message}"
        for error in metadata_validator().iter_errors(metadata(connector))
    ]
    assert not errors, errors
    assert metadata(connector)["metadataSpecVersion"] == "1.0"


@pytest.mark.parametrize("connector", CONNECTORS)
def test_airbyte_cdk_reads_the_metadata_file(connector: str) -> None:
    """What `airbyte-cdk image build` and `image test` load before building."""
    parsed = MetadataFile.from_file(METADATA_FILES[connector])
    assert parsed.data.dockerRepository == data(connector)["dockerRepository"]
    assert parsed.data.dockerImageTag == version()
    assert parsed.data.language.value == "python"
    assert parsed.data.connectorBuildOptions is not None
    assert parsed.data.connectorBuildOptions.baseImage == external_bases()[0]


def test_airbyte_cdk_resolves_the_source_to_the_repository_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`airbyte-cdk image build source-commercetools-keyset` run at the root: the root is both
    the connector directory (its metadata.yaml) and the build context."""
    monkeypatch.chdir(ROOT)
    name, directory = resolve_connector_name_and_directory("source-commercetools-keyset")
    assert (name, directory) == ("source-commercetools-keyset", ROOT)
    assert METADATA_FILES[name] == directory / "metadata.yaml"


@pytest.mark.parametrize("connector", CONNECTORS)
def test_metadata_file_lies_in_a_directory_named_for_the_connector_or_the_root(
    connector: str,
) -> None:
    directory = METADATA_FILES[connector].parent
    assert directory == ROOT or directory.name == connector


@pytest.mark.parametrize("connector", CONNECTORS)
def test_metadata_agrees_with_pyproject_and_dockerfile(connector: str) -> None:
    values = data(connector)
    assert values["connectorType"] == connector.split("-", 1)[0]
    assert DOCKER_REPOSITORY.match(values["dockerRepository"]), values["dockerRepository"]
    assert values["dockerRepository"].rsplit("/", 1)[-1] == connector
    assert DOCKER_TAG.match(values["dockerImageTag"]) and values["dockerImageTag"] == version()
    assert stage(connector).name == connector  # a build target of that name exists
    assert values["githubIssueLabel"] == connector
    assert values["license"] == pyproject()["project"]["license"]["text"]
    assert {"language:python", "cdk:python"} <= set(values["tags"])
    assert values["registryOverrides"]["oss"]["enabled"] is True


@pytest.mark.parametrize("connector", CONNECTORS)
def test_documentation_url_is_absolute_and_what_spec_reports(connector: str) -> None:
    url = data(connector)["documentationUrl"]
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.netloc, url
    assert str(spec(connector).documentationUrl) == url
    page = PurePosixPath(parts.path).name
    assert (ROOT / "docs" / page).is_file(), f"{url} names no page under docs/"


def test_connectors_do_not_take_the_names_of_airbytes_own() -> None:
    """PyAirbyte and the registry resolve a connector by name: ours must not be Airbyte's."""
    names = [data(each)["name"] for each in CONNECTORS]
    images = [data(each)["dockerRepository"] for each in CONNECTORS]
    assert len(set(names)) == len(names) and len(set(images)) == len(images)
    for official, display in OFFICIAL_NAMES.items():
        assert official not in CONNECTORS
        assert all(not image.endswith(f"/{official}") for image in images)
        assert display not in names


@pytest.mark.parametrize("connector", CONNECTORS)
def test_metadata_says_refreshes_are_not_supported(connector: str) -> None:
    """CRM One cannot be truncated: Airbyte must not offer a refresh (issue 19)."""
    assert data(connector)["supportsRefreshes"] is False


def test_definition_ids_are_distinct_uuid4() -> None:
    ids = [uuid.UUID(data(each)["definitionId"]) for each in CONNECTORS]
    assert all(each.version == 4 for each in ids), ids
    assert len(set(ids)) == len(ids)


def test_every_console_script_has_one_connector() -> None:
    scripts = console_scripts()
    assert sorted(entrypoint_script(each) for each in CONNECTORS) == sorted(
        set(scripts) - set(SCRIPT_ALIASES)
    )
    for alias, name in SCRIPT_ALIASES.items():
        assert scripts[alias] == scripts[name], f"{alias} is not an alias of {name}"


@pytest.mark.parametrize("connector", CONNECTORS)
def test_each_connector_has_a_script_of_its_own_name(connector: str) -> None:
    """PyAirbyte installs a connector by name and runs `bin/<name>`; the image runs it too."""
    name = data(connector)["dockerRepository"].rsplit("/", 1)[-1]
    assert name in console_scripts(), f"no console script {name}"
    assert entrypoint_script(connector) == name
    installed = Path(sys.executable).parent / name
    assert installed.is_file(), f"{installed} is not installed: reinstall the project"


@pytest.mark.parametrize("connector", CONNECTORS)
def test_allowed_hosts_refer_to_real_config_keys(connector: str) -> None:
    hosts = data(connector)["allowedHosts"]["hosts"]
    assert hosts and all(isinstance(host, str) and host for host in hosts)
    properties = spec(connector).connectionSpecification["properties"]
    references = [ref for host in hosts for ref in CONFIG_REF.findall(host)]
    assert references, "allowedHosts must include the configured URL's host"
    for reference in references:
        node: dict[str, Any] = {"properties": properties}
        for part in reference.split("."):
            assert part in node.get("properties", {}), f"${{{reference}}} is not a config key"
            node = node["properties"][part]


# --- ./run.sh image: airbyte-cdk image build per connector ----------------------------------

# A stand-in for the Docker CLI (no engine here): it logs each call, lists the build context
# and the dockerRepository of the metadata.yaml in it, and answers `docker run IMAGE spec` with
# the console script named after the image's connector, as the image's ENTRYPOINT would.
FAKE_DOCKER = """#!/usr/bin/env bash
echo "$*" >> "$FAKE_DOCKER_LOG"
case "$1" in
  buildx)
    context="${@: -1}"
    echo "context: $(cd "$context" && ls -A | tr '\\n' ' ')" >> "$FAKE_DOCKER_LOG"
    grep dockerRepository "$context/metadata.yaml" >> "$FAKE_DOCKER_LOG" ;;
  run)
    image="${@: -2:1}"
    name="${image##*/}"
    exec "$FAKE_DOCKER_BIN/${name%%:*}" "${@: -1}" ;;
esac
"""


@pytest.mark.parametrize("connector", CONNECTORS)
def test_run_sh_image_builds_each_connector_with_airbyte_cdk(
    connector: str, tmp_path: Path
) -> None:
    (tmp_path / "docker").write_text(FAKE_DOCKER)
    (tmp_path / "docker").chmod(0o755)
    log = tmp_path / "docker.log"
    env = {
        **os.environ,
        "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}",
        "FAKE_DOCKER_LOG": str(log),
        "FAKE_DOCKER_BIN": str(Path(sys.executable).parent),
    }
    completed = subprocess.run(
        ["./run.sh", "image", connector],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    image = f"{data(connector)['dockerRepository']}:{version()}"
    assert f"Build and verification completed successfully: {image}" in output
    calls = log.read_text()
    assert f"--build-arg CONNECTOR_NAME={connector} " in calls
    assert f"dockerRepository: {data(connector)['dockerRepository']}" in calls
    context = set(re.search(r"^context: (.*)$", calls, re.M).group(1).split())
    assert {"Dockerfile", "metadata.yaml", *SHIPPED} <= context
    assert f"run --rm {image} spec" in calls
