#!/usr/bin/env bash
# Build ./.venv-trl, an environment holding only the stock Hugging Face training stack (idempotent).
# tests/test_trl_exports.py proves traj's exports feed TRL's trainers as they are: the stock
# libraries, in their own environment, never traj's code or its pins.
# Usage: bash scripts/setup-trl.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${TRL_VENV:-.venv-trl}
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import trl.experimental.sdft, datasets, peft' 2>/dev/null; then
  echo "TRL environment ready: $VENV"
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# torch first, pinned to the CPU wheel: left to the resolver, pip pulls several GB of CUDA packages.
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" "trl>=1.16" "datasets>=3" "peft>=0.17"
"$VENV/bin/python" -c 'import trl.experimental.sdft, datasets, peft' >/dev/null
echo "TRL environment ready: $VENV"
