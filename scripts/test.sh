#!/usr/bin/env bash
# Set up with the test tools, then lint and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# The vLLM server of tests/test_vllm.py lives in its own environment; required here, never skipped.
bash scripts/setup-vllm.sh
export TRAJ_REQUIRE_VLLM=1
# Stock TRL + datasets for tests/test_trl_exports.py (the exports feed TRL as they are); never skipped here.
bash scripts/setup-trl.sh
export TRAJ_REQUIRE_TRL=1
.venv/bin/ruff check .
.venv/bin/lint-imports  # the layering contracts in pyproject.toml
.venv/bin/python -m pytest -q
