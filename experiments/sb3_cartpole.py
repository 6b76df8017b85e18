"""Stable-Baselines3 peer for the CartPole benchmark: PPO or A2C with rl-zoo's CartPole-v1
hyperparameters, stopped when the mean of the last 20 training episodes reaches the target.

    python experiments/sb3_cartpole.py ppo SEED [TARGET]   -> one JSON line: steps_to_target, train_s
"""

import json
import sys
import time
from collections import deque

from stable_baselines3 import A2C, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env


def linear(start: float):
    return lambda progress_remaining: progress_remaining * start


# rl-zoo hyperparams/ppo.yml and a2c.yml, CartPole-v1
SETTINGS = {
    "ppo": (
        PPO,
        dict(
            n_steps=32,
            batch_size=256,
            gae_lambda=0.8,
            gamma=0.98,
            n_epochs=20,
            ent_coef=0.0,
            learning_rate=linear(1e-3),
            clip_range=linear(0.2),
        ),
        8,
        100_000,
    ),
    "a2c": (A2C, dict(ent_coef=0.0), 8, 500_000),
}


class StopAtTarget(BaseCallback):
    def __init__(self, target: float):
        super().__init__()
        self.target, self.returns, self.steps_to_target = target, deque(maxlen=20), None

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                self.returns.append(info["episode"]["r"])
        if len(self.returns) == 20 and sum(self.returns) / 20 >= self.target:
            self.steps_to_target = self.num_timesteps
            return False
        return True


def main() -> None:
    algo, seed = sys.argv[1], int(sys.argv[2])
    target = float(sys.argv[3]) if len(sys.argv) > 3 else 475.0
    cls, kwargs, num_envs, budget = SETTINGS[algo]
    start = time.perf_counter()
    env = make_vec_env("CartPole-v1", n_envs=num_envs, seed=seed)
    model = cls("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)
    callback = StopAtTarget(target)
    model.learn(budget, callback=callback)
    print(json.dumps({"steps_to_target": callback.steps_to_target, "train_s": time.perf_counter() - start}))


if __name__ == "__main__":
    main()
