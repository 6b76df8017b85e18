"""A two-agent matrix game in JaxMARL's API that needs cooperation: both agents see a cue (one
of two), and each is paid 1 only when BOTH play the cue's action, so neither can score alone.
Acting at random, a team scores 2 * 1/4 = 0.5 a game; the best team 2. A game is one step."""

import jax
import jax.numpy as jnp
from jaxmarl.environments import spaces
from jaxmarl.environments.multi_agent_env import MultiAgentEnv

from jaxrl.envs import Backend, cannot_draw, register, unregister
from jaxrl.envs import jaxmarl as adapter

ENV_ID = "Coordination-v0"


class Coordination(MultiAgentEnv):
    def __init__(self):
        super().__init__(num_agents=2)
        self.observation_spaces = {agent: spaces.Box(0.0, 1.0, (2,)) for agent in self.agents}
        self.action_spaces = {agent: spaces.Discrete(2) for agent in self.agents}

    def reset(self, key):
        cue = jax.random.bernoulli(key).astype(jnp.int32)
        return self.get_obs(cue), cue

    def get_obs(self, cue):
        return {agent: jax.nn.one_hot(cue, 2) for agent in self.agents}

    def step_env(self, key, cue, actions):
        both = (actions["agent_0"] == cue) & (actions["agent_1"] == cue)
        reward = both.astype(jnp.float32)
        rewards = {agent: reward for agent in self.agents}
        dones = {agent: jnp.bool_(True) for agent in [*self.agents, "__all__"]}
        return self.get_obs(cue), cue, rewards, dones, {}


GAME = Coordination()
BACKEND = Backend(
    name="coordination",
    knows=lambda env_id: env_id == ENV_ID,
    candidates=lambda: [ENV_ID],
    spec=lambda env_id, **_: adapter.spec_of_env(GAME, env_id),
    make=lambda env_id, seeds, world_state=False, **_: adapter.pool_of(GAME, env_id, seeds, world_state=world_state),
    action_space=lambda env_id, instance=None: "Discrete(2)",
    renderer=cannot_draw("a matrix game"),
    family=lambda env_id: "marl",
)


def registered(name: str = "coordination", backend: Backend = BACKEND):
    """A context's worth of registration: `with registered(): ...` (tests leave the registry as it was)."""
    import contextlib

    @contextlib.contextmanager
    def scope():
        register(name, backend)
        try:
            yield
        finally:
            unregister(name)

    return scope()
