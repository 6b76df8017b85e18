"""Stable-Baselines3 peer for the CartPole benchmark: PPO, A2C or DQN with rl-zoo's CartPole-v1
hyperparameters, stopped when the mean of the last 20 training episodes reaches the highest
target (or at the step budget).

    python experiments/sb3_cartpole.py ppo SEED [TARGET,...]
    -> one JSON line {"<target>": [env steps, seconds since the process started] or null, ...}
"""

# ruff: noqa: E402
import time

PROCESS_START = time.perf_counter()  # before the imports: "whole process" includes them

import json
import sys
from collections import deque

from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env


def linear(start: float):
    return lambda progress_remaining: progress_remaining * start


# rl-zoo hyperparams/{ppo,a2c,dqn}.yml, CartPole-v1: (class, kwargs, envs, step budget). rl-zoo
# trains DQN for 50k steps; the budget here is 3x that, so a slow seed still gets a time.
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
    "dqn": (
        DQN,
        dict(
            learning_rate=2.3e-3,
            batch_size=64,
            buffer_size=100_000,
            learning_starts=1_000,
            gamma=0.99,
            target_update_interval=10,
            train_freq=256,
            gradient_steps=128,
            exploration_fraction=0.16,
            exploration_final_eps=0.04,
            policy_kwargs=dict(net_arch=[256, 256]),
        ),
        1,
        150_000,
    ),
}


class StopAtTargets(BaseCallback):
    def __init__(self, targets: list[float]):
        super().__init__()
        self.returns = deque(maxlen=20)
        self.reached = {target: None for target in targets}

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                self.returns.append(info["episode"]["r"])
        mean = sum(self.returns) / 20 if len(self.returns) == 20 else float("-inf")
        for target, when in self.reached.items():
            if when is None and mean >= target:
                self.reached[target] = [self.num_timesteps, time.perf_counter() - PROCESS_START]
        return any(when is None for when in self.reached.values())


def main() -> None:
    algo, seed = sys.argv[1], int(sys.argv[2])
    targets = [float(t) for t in sys.argv[3].split(",")] if len(sys.argv) > 3 else [475.0]
    cls, kwargs, num_envs, budget = SETTINGS[algo]
    env = make_vec_env("CartPole-v1", n_envs=num_envs, seed=seed)
    model = cls("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)
    callback = StopAtTargets(targets)
    model.learn(budget, callback=callback)
    print(json.dumps({f"{target:g}": when for target, when in callback.reached.items()}))


if __name__ == "__main__":
    main()
