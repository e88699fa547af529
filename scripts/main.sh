#!/usr/bin/env bash
# The main job on the bundled default: set up, then `traj demo`: record the bundled expense
# demonstration in headless Chromium, build (or reuse) the tiny local model, measure the agent
# on unseen seeds, train an SDFT adapter on the one demonstration, and measure it again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
home=${TRAJ_HOME:-$PWD/.traj-demo}
rm -rf "$home"
traj demo --home "$home"
echo
echo "Try next:  .venv/bin/traj sites serve    and    .venv/bin/traj record --site calendar   (headed, on a desktop)"
