#!/usr/bin/env bash
# Makes the README's pictures: PPO vs A2C learning curves on CartPole (4 seeds each, the whole
# budget: a target above CartPole's maximum keeps every run going) and a GIF of the PPO agent.
# Usage: bash experiments/readme_media.sh   (after `make install`; ~2 minutes on a laptop CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
JAXRL=.venv/bin/jaxrl
RUNS=$(mktemp -d)
$JAXRL train ppo --seeds 4 --target-return 501 --logdir "$RUNS" --name readme
$JAXRL train a2c --seeds 4 --target-return 501 --total-steps 102400 --logdir "$RUNS" --name readme
$JAXRL compare "$RUNS/CartPole-v1/ppo/readme" "$RUNS/CartPole-v1/a2c/readme" --out docs
$JAXRL eval "$RUNS/CartPole-v1/ppo/readme" --run s0 --episodes 10 --video
.venv/bin/python - "$RUNS/CartPole-v1/ppo/readme/eval-s0.mp4" docs/cartpole-ppo.gif <<'PY'
import sys

import imageio.v3 as iio
import numpy as np
from PIL import Image

frames = iio.imread(sys.argv[1])[::2, ::2, ::2]  # 25 fps, 300 x 200: a small GIF
images = [Image.fromarray(np.ascontiguousarray(frame)) for frame in frames[:250]]
images[0].save(sys.argv[2], save_all=True, append_images=images[1:], duration=40, loop=0, optimize=True)
PY
echo "wrote docs/CartPole-v1.png, docs/results.md, docs/cartpole-ppo.gif"
