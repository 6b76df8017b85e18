"""Action masks from gymnasium envs, in both of the conventions gymnasium's and PettingZoo's envs
use: a Dict observation of an "observation" and an "action_mask", or "action_mask" in the info of
reset and step. PPO trained through the gymnasium backend never takes an illegal action of
tests/algos/test_masks.py's cells; the same env with its masks hidden does (the test can fail)."""

import gymnasium
import numpy as np
import pytest

import jaxrl
from tests.algos.test_masks import ACTIONS, CELLS, LENGTH, MASKS

TRAINING = dict(backend="gymnasium", num_envs=4, rollout_steps=8, num_minibatches=2, update_epochs=2, total_steps=1_024)


class GymCells(gymnasium.Env):
    """test_masks.py's MaskedCells as a gymnasium env: the cell one-hot, legal actions pay 1 +
    action / 10 and an illegal one ends the game; `way` says how the legal actions are told."""

    illegal = 0  # illegal actions taken, by every instance (the pool's envs live in this process)

    def __init__(self, way: str = "info"):
        self.way = way
        vector = gymnasium.spaces.Box(0.0, 1.0, (CELLS,), np.float32)
        mask = gymnasium.spaces.MultiBinary(ACTIONS)
        self.observation_space = (
            gymnasium.spaces.Dict(observation=vector, action_mask=mask) if way == "dict" else vector
        )
        self.action_space = gymnasium.spaces.Discrete(ACTIONS)

    def observed(self):
        vector, mask = np.eye(CELLS, dtype=np.float32)[self.cell], MASKS[self.cell].astype(np.int8)
        if self.way == "dict":
            return {"observation": vector, "action_mask": mask}, {}
        return vector, ({"action_mask": mask} if self.way == "info" else {})

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.time, self.cell = 0, int(self.np_random.integers(CELLS))
        return self.observed()

    def step(self, action):
        legal = bool(MASKS[self.cell, action])
        GymCells.illegal += not legal
        self.time, self.cell = self.time + 1, int(self.np_random.integers(CELLS))
        obs, info = self.observed()
        return obs, 1.0 + action / 10 if legal else -100.0, not legal or self.time == LENGTH, False, info


@pytest.mark.parametrize("way", ["dict", "info", "hidden"])
def test_gymnasium_masks_keep_ppo_legal(way, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env_id = f"GymCells-{way}-v0"
    gymnasium.register(env_id, entry_point=GymCells, kwargs={"way": way})
    GymCells.illegal = 0
    try:
        jaxrl.train("ppo", env=env_id, **TRAINING)
    finally:
        gymnasium.registry.pop(env_id)
    assert (GymCells.illegal == 0) == (way != "hidden"), GymCells.illegal
