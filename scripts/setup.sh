#!/usr/bin/env bash
# Install traj with every extra ([all]) into ./.venv (idempotent; safe to re-run).
# Usage: bash scripts/setup.sh [--test]    (--test adds the test and lint tools)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "traj needs Python >= 3.11 (found: $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "installing python3-venv (needs root)" >&2
  apt-get update -qq && apt-get install -y -qq python3-venv
fi
# The browser is Debian's Chromium, driven by Playwright (never a Playwright browser download).
if [ -z "${TRAJ_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium (needs root)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi

# torch first, pinned: the CPU wheel; left to the resolver, pip pulls several GB of CUDA packages.
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"

extras="all"  # the light core is `pip install .`; the extras are browser, train, mlx, serve
if [ "${1:-}" = "--test" ]; then extras="all,test"; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${extras}]"
if [ "${1:-}" = "--test" ]; then
  # bench/miniwob.py's pages (MiniWoB++, MIT): only their HTML is served, so none of the
  # package's own environment (gymnasium, selenium) is installed.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "miniwob==1.1.0"
fi
