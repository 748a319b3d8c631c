#!/usr/bin/env bash
# One entry point for people and CI.
#   ./run.sh demo [--source-config C --destination-config D]   the main job, end to end
#   ./run.sh test [pytest args]                                 the whole test suite (what .ci/run calls)
#   ./run.sh bench                                              throughput and cost ratios (not a test)
#   ./run.sh lock [--upgrade]                                   regenerate both lockfiles (needs PyPI)
#   ./run.sh image CONNECTOR [airbyte-cdk image build options]  a connector's image (needs Docker)
# Needs only Python 3.11 and pip: the first call creates .venv and installs the project from
# requirements-dev.lock (every package pinned and hash-checked), then the project itself.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

ensure_venv() {
  if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
  fi
  local stamp=.venv/.installed
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements-dev.lock -nt "$stamp" ]; then
    # pip itself first, as locked: the pip a venv starts with may be older than the lock needs
    # (23.2 refuses a hashed pin wanted with an extra, e.g. google-api-core[grpc]). Then every
    # dependency (runtime, dev tools, setuptools and wheel to build the project) exactly as
    # locked, each file checked against its hash; then the project alone, resolving nothing.
    awk '/^pip==/ {entry = 1; print; next} entry && /^[^ ]/ {entry = 0} entry' \
      requirements-dev.lock >.venv/pip.lock
    .venv/bin/python -m pip install --quiet --require-hashes -r .venv/pip.lock
    .venv/bin/python -m pip install --quiet --require-hashes -r requirements-dev.lock
    .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
    touch "$stamp"
  fi
}

# The two lockfiles, from pyproject.toml: the dev lock (runtime + dev extras + build
# requirements) first, then the images' lock constrained by it, so the tests run on exactly the
# versions the images ship. Hashes of every platform's files (the images are multi-arch).
lock() {
  ensure_venv
  local build_requires='setuptools>=69\nwheel\n'
  local common=(--generate-hashes --universal --python-version 3.11 --no-header "$@")
  printf "${build_requires}pip\n" | .venv/bin/uv pip compile pyproject.toml - --extra dev \
    "${common[@]}" -o requirements-dev.lock >/dev/null
  printf "$build_requires" | .venv/bin/uv pip compile pyproject.toml - \
    -c requirements-dev.lock "${common[@]}" -o requirements.lock >/dev/null
}

# `airbyte-cdk image build` for one connector. It takes the connector's name from its directory
# and builds with that directory as the context, which must hold its metadata.yaml: the root for
# the source; for the destination, a copy of what the image needs with its metadata.yaml on top.
image() {
  local connector="${1:?name a connector: source-commercetools-keyset or destination-crmone}"
  shift
  local metadata=metadata.yaml
  [ "$connector" = source-commercetools-keyset ] || metadata="connectors/$connector/metadata.yaml"
  [ -f "$metadata" ] || { echo "no connector named $connector" >&2; return 2; }
  local tag
  tag="$(sed -n 's/^  dockerImageTag: *//p' "$metadata")"
  if [ "$connector" = source-commercetools-keyset ]; then
    .venv/bin/airbyte-cdk image build "$connector" --dockerfile Dockerfile --tag "$tag" "$@"
    return
  fi
  local ctx
  ctx="$(mktemp -d)"
  trap 'rm -rf "$ctx"' RETURN
  mkdir "$ctx/$connector"
  tar -c Dockerfile .dockerignore pyproject.toml README.md requirements.lock connectors_common \
    source_commercetools destination_crmone | tar -x -C "$ctx/$connector"
  cp "$metadata" "$ctx/$connector/metadata.yaml"
  .venv/bin/airbyte-cdk image build "$ctx/$connector" --dockerfile "$ctx/$connector/Dockerfile" \
    --tag "$tag" "$@"
}

cmd="${1:-help}"
shift || true
case "$cmd" in
  test)
    ensure_venv
    .venv/bin/ruff check .
    .venv/bin/ruff format --check . >/dev/null || echo "note: ruff format would reformat some files"
    exec .venv/bin/python -m pytest "$@"
    ;;
  demo)
    ensure_venv
    exec .venv/bin/python -m demo "$@"
    ;;
  bench)
    ensure_venv
    exec .venv/bin/python -m bench "$@"
    ;;
  lock)
    lock "$@"
    ;;
  image)
    ensure_venv
    image "$@"
    ;;
  *)
    sed -n '2,8p' "$0"
    ;;
esac
