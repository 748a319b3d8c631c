#!/usr/bin/env bash
# One entry point for people and CI.
#   ./run.sh demo [--source-config C --destination-config D]   the main job, end to end
#   ./run.sh test [pytest args]                                 the whole test suite (what .ci/run calls)
#   ./run.sh bench                                              throughput and cost ratios (not a test)
# Needs only Python 3.11 and pip: the first call creates .venv and installs the project.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

ensure_venv() {
  if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
  fi
  local stamp=.venv/.installed
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[dev]'
    touch "$stamp"
  fi
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
  *)
    sed -n '2,6p' "$0"
    ;;
esac
