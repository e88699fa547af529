#!/usr/bin/env bash
# The GPU check (issue 24): traj's SDFT in bfloat16 on one CUDA GPU, on randomly initialised
# Llama-shaped bases of 1B and 8B parameters built from their configs (no download, no network),
# with the tiny model's tokenizer. Prints per shape tokens/s, seconds per phase of a step
# (rollout, student, teacher, backward, optimizer, EMA) and peak GPU memory, then TRL's
# SDFTTrainer where TRL is installed, and a final JSON line. About 2-4 minutes on one H100.
#
#   bash scripts/gpu-check.sh prepare   # here, with PyPI: the wheels the GPU image lacks, into .whl/
#   bash scripts/gpu-check.sh           # on the GPU machine (carry .whl): install them, run the check
#   bash scripts/gpu-check.sh pretrain  # instead: pretrain the small model at a larger shape into $OUT
#                                       # (bench/pretrain.py; SHAPES, STEPS, TOKENS override the defaults)
#
# The GPU image has torch, transformers, peft, accelerate and pyarrow but not msgspec, and its
# transformers may be older than the one traj is tested with: both travel as wheels (Python 3.12).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# transformers 5.25 needs huggingface_hub 2.x (and its httpx2 client) and kernels: newer than the image holds
WHEELS=(msgspec==0.19.0 transformers==5.25.0 peft==0.21.2 huggingface_hub==2.4.0 kernels==0.19.1 hf-xet==1.8.0
  httpx2==2.17.0 httpcore2==2.17.0 truststore==0.10.5 tomlkit==0.15.3)

if [ "${1:-}" = "prepare" ]; then
  grep -qxF '/.whl/' "$(git rev-parse --git-common-dir)/info/exclude" 2>/dev/null \
    || echo '/.whl/' >>"$(git rev-parse --git-common-dir)/info/exclude"
  rm -rf .whl && mkdir -p .whl
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "${WHEELS[@]}"
  ls -la .whl
  exit 0
fi

if compgen -G ".whl/*.whl" >/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/traj-site .whl/*.whl
  export PYTHONPATH="/tmp/traj-site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
"$PYTHON" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device here"; print(torch.cuda.get_device_name())'
if [ "${1:-}" = "pretrain" ]; then  # issue 25: the small model at a larger shape, with a GPU's tokens
  exec timeout 560 "$PYTHON" bench/pretrain.py --device cuda --shapes "${SHAPES:-small}" --steps "${STEPS:-2000}" \
    --tokens-per-batch "${TOKENS:-32768}" --out "${OUT:?set OUT to where the models go}"
fi
exec timeout 450 "$PYTHON" bench/train.py --device cuda --shapes "${SHAPES:-1b,8b}" --steps "${STEPS:-6}" \
  --batch-size "${BATCH:-4}" --new-tokens "${NEW_TOKENS:-32}" "$@"
