#!/usr/bin/env bash
# The main job on the bundled default: set up, then record the scripted demonstration of
# each of the five bundled tasks in (headless) Chromium into a fresh store, replay one of
# them on other seeds, and show what the projections make of it all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
home=${TRAJ_HOME:-$PWD/.traj-demo}
rm -rf "$home"
for site in calendar flights expense price cross_app; do
  traj record --home "$home" --site "$site" --seed 1 --script bundled --headless
done
traj demos --home "$home"
traj query --home "$home" "SELECT task, count(*) AS steps FROM steps GROUP BY task ORDER BY task"
traj query --home "$home" "SELECT task, kind, value FROM steps WHERE task = 'expense' ORDER BY step" --limit 12
traj eval expense --home "$home" --seeds 2..6      # replay the expense demo on five other seeds
traj query --home "$home" "SELECT seed, success, ok_steps, healed_steps, failed_steps FROM replays ORDER BY seed"
traj compact --home "$home"
traj verify --home "$home"
echo
echo "Try next:  .venv/bin/traj sites serve    and    .venv/bin/traj record --site calendar   (headed, on a desktop)"
