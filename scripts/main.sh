#!/usr/bin/env bash
# The main job on the bundled default: set up, then write sample demonstrations into a
# fresh store and show what the projections make of them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
home=${TRAJ_HOME:-$PWD/.traj-sample}
rm -rf "$home"
traj sample --home "$home" --demos 20
traj compact --home "$home"
traj stats --home "$home"
traj query --home "$home" "SELECT demo_id, task, steps, success FROM demos ORDER BY demo_id LIMIT 5"
traj query --home "$home" "SELECT context_source, count(*) AS examples FROM sdft_examples GROUP BY ALL ORDER BY 1"
traj verify --home "$home"
echo
echo "Try next:  .venv/bin/traj query --home $home --views"
