"""The one-bit memory probe (`jaxrl.envs.memory.OneBitMemory`) for a team of two, in JaxMARL's
API: both agents see the bit at the first of 4 steps only and answer it at the last, each paid 1
for the right answer. Without memory a team scores 2 * 1/2 = 1 a game, with it 2. The world state
(every agent's observation, `jaxrl.envs.jaxmarl.game_state`) shows the bit at the first step only
too, so a central critic needs a memory of its own."""

import jax.numpy as jnp
from jaxmarl.environments import spaces
from jaxmarl.environments.multi_agent_env import MultiAgentEnv

from jaxrl.envs.memory import OneBitMemory, OneBitParams, OneBitState
from tests.envs.coordination import game_backend
from tests.envs.coordination import registered as registered_as

ENV_ID = "TeamMemory-v0"
PARAMS = OneBitParams(4)


class TeamMemory(MultiAgentEnv):
    def __init__(self):
        super().__init__(num_agents=2)
        self.bit = OneBitMemory()
        self.observation_spaces = {agent: spaces.Box(-1.0, 1.0, (2,)) for agent in self.agents}
        self.action_spaces = {agent: spaces.Discrete(2) for agent in self.agents}

    def reset(self, key):
        _, state = self.bit.reset(key, PARAMS)
        return self.get_obs(state), state

    def get_obs(self, state: OneBitState):
        return {agent: self.bit.observe(state, PARAMS) for agent in self.agents}

    def step_env(self, key, state: OneBitState, actions):
        asked = state.time == PARAMS.length - 1
        rewards = {agent: (asked & (actions[agent] == state.bit)).astype(jnp.float32) for agent in self.agents}
        moved = OneBitState(state.time + 1, state.bit)  # the base class's step resets an ended game
        dones = {agent: asked for agent in [*self.agents, "__all__"]}
        return self.get_obs(moved), moved, rewards, dones, {}


GAME = TeamMemory()
BACKEND = game_backend("team_memory", GAME, ENV_ID, "a memory probe")


def registered():
    return registered_as("team_memory", BACKEND)
