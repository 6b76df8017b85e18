"""Stable-Baselines3 peer for the MuJoCo benchmarks: SAC or PPO with rl-zoo's hyperparameters
(hyperparams/sac.yml and ppo.yml, HalfCheetah-v3 and Hopper-v3, the tuned MuJoCo entries) on a
gymnasium MuJoCo env, one seed, a fixed step budget.

    python experiments/sb3_mujoco.py sac HalfCheetah-v4 SEED STEPS [LEARNING_STARTS]
    -> one JSON line {"wall_s": seconds since the process started, "steps": STEPS,
                      "final_return": mean of the last 20 training episodes, "episodes": count}
"""

# ruff: noqa: E402
import time

PROCESS_START = time.perf_counter()  # before the imports: "whole process" includes them

import json
import sys
from collections import deque

import torch.nn as nn
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

PPO_NET = dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, net_arch=dict(pi=[256, 256], vf=[256, 256]))
# rl-zoo: SAC's MuJoCo defaults (learning_starts 10k, the rest SB3's defaults); PPO's tuned entries
SETTINGS = {
    ("sac", "HalfCheetah"): dict(learning_starts=10_000),
    ("sac", "Hopper"): dict(learning_starts=10_000),
    ("ppo", "HalfCheetah"): dict(
        batch_size=64, n_steps=512, gamma=0.98, learning_rate=2.0633e-05, ent_coef=0.000401762, clip_range=0.1,
        n_epochs=20, gae_lambda=0.92, max_grad_norm=0.8, vf_coef=0.58096, policy_kwargs=PPO_NET,
    ),
    ("ppo", "Hopper"): dict(
        batch_size=32, n_steps=512, gamma=0.999, learning_rate=9.80828e-05, ent_coef=0.00229519, clip_range=0.2,
        n_epochs=5, gae_lambda=0.99, max_grad_norm=0.7, vf_coef=0.835671, policy_kwargs=PPO_NET,
    ),
}  # fmt: skip


class TrainingReturns(BaseCallback):
    def __init__(self):
        super().__init__()
        self.returns = deque(maxlen=20)
        self.episodes = 0

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:  # Monitor's record: the raw reward, before VecNormalize
                self.returns.append(info["episode"]["r"])
                self.episodes += 1
        return True


def main() -> None:
    algo, env_id, seed, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    kwargs = dict(SETTINGS[(algo, env_id.partition("-v")[0])])
    if len(sys.argv) > 5:  # SAC: a throughput check on a short budget
        kwargs["learning_starts"] = int(sys.argv[5])
    env = make_vec_env(env_id, n_envs=1, seed=seed)
    if algo == "ppo":  # rl-zoo's `normalize: true`
        env = VecNormalize(env, gamma=kwargs["gamma"])
    model = (SAC if algo == "sac" else PPO)("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)
    callback = TrainingReturns()
    model.learn(steps, callback=callback)
    final = sum(callback.returns) / len(callback.returns) if callback.returns else None
    wall = time.perf_counter() - PROCESS_START
    print(json.dumps({"wall_s": wall, "steps": steps, "final_return": final, "episodes": callback.episodes}))


if __name__ == "__main__":
    main()
