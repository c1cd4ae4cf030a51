#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, then runs it.
# Usage: bash scripts/test.sh [pytest args...]
# PostgreSQL: set CONFAPP_TEST_POSTGRES_URL to a server the tests may create databases on
# (.ci/run starts one); without it the PostgreSQL half is skipped, with the reason shown.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v node >/dev/null || need_apt+=(nodejs npm)
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)  # the door scanner's fake camera video
# cairosvg (rendering QR SVGs for the decoder) needs the Cairo library.
ldconfig -p 2>/dev/null | grep -q libcairo.so.2 || need_apt+=(libcairo2)
if ((${#need_apt[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "Installing ${need_apt[*]} from Debian ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "Missing ${need_apt[*]}: the browser tests will be skipped (install them with apt)." >&2
  fi
fi

# The project's own virtual environment: a dependency that is not declared in pyproject.toml
# is missing here too, whatever else the machine has.
[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

.venv/bin/python -m ruff format --check confapp tests
.venv/bin/python -m ruff check confapp tests
# Imports run one way (pyproject.toml, [tool.importlinter]; docs/architecture.md, "Layers").
.venv/bin/lint-imports --no-cache
# Types, strict (pyproject.toml, [tool.mypy]: which files, which flags and why).
.venv/bin/python -m mypy
# Two processes (pytest-xdist), each with its own databases and servers; a file's tests stay
# together in one. CONFAPP_TEST_PROCESSES=1 runs them all in this process.
processes=${CONFAPP_TEST_PROCESSES:-2}
if [[ $processes == 1 ]]; then
  .venv/bin/python -m pytest "$@"
else
  .venv/bin/python -m pytest -n "$processes" --dist loadfile "$@"
fi
