#!/usr/bin/env bash
# Makes the README's pictures: PPO vs A2C learning curves on CartPole (4 seeds each, the whole
# budget: a target above CartPole's maximum keeps every run going), the README's sweep
# (3 learning rates x 2 entropy coefficients x 4 seeds), a PBT run of 16 members, and a GIF of
# the PPO agent.
# Usage: bash experiments/readme_media.sh   (after `make install`; ~5 minutes on a 2-core CPU)
# JAXRL and PYTHON name another install's console script and interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
JAXRL=${JAXRL:-.venv/bin/jaxrl}
PYTHON=${PYTHON:-.venv/bin/python}
RUNS=$(mktemp -d)
$JAXRL train ppo --seeds 4 --target-return 501 --logdir "$RUNS" --name readme
$JAXRL train a2c --seeds 4 --target-return 501 --total-steps 102400 --logdir "$RUNS" --name readme
$JAXRL compare "$RUNS/CartPole-v1/ppo/readme" "$RUNS/CartPole-v1/a2c/readme" --out docs
# The README's own sweep, as written there; its report draws learning_curves.png.
$JAXRL sweep ppo --env CartPole-v1 --seeds 4 --lr 1e-4,3e-4,1e-3 --ent-coef 0,0.01 --logdir "$RUNS" --name sweep
cp "$RUNS/CartPole-v1/ppo/sweep/learning_curves.png" docs/sweep-cartpole-ppo.png
# PBT: a ready point every tenth of the budget, and no early stop (nine rounds of copies).
$JAXRL pbt ppo --env CartPole-v1 --population 16 --lr 1e-5:1e-2:log --ent-coef 0:0.05 --ready-every 10240 \
    --target-return 501 --logdir "$RUNS" --name pbt
cp "$RUNS/CartPole-v1/ppo/pbt/pbt.png" docs/pbt-cartpole-ppo.png
$JAXRL eval "$RUNS/CartPole-v1/ppo/readme" --run s0 --episodes 10 --video
$PYTHON - "$RUNS/CartPole-v1/ppo/readme/eval-s0.mp4" docs/cartpole-ppo.gif <<'PY'
import sys

import imageio.v3 as iio
import numpy as np
from PIL import Image

frames = iio.imread(sys.argv[1])[::2, ::2, ::2]  # 25 fps, 300 x 200: a small GIF
images = [Image.fromarray(np.ascontiguousarray(frame)) for frame in frames[:250]]
images[0].save(sys.argv[2], save_all=True, append_images=images[1:], duration=40, loop=0, optimize=True)
PY
echo "wrote docs/CartPole-v1.png, docs/results.md, docs/sweep-cartpole-ppo.png, docs/pbt-cartpole-ppo.png, docs/cartpole-ppo.gif"
