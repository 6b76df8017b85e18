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


def game_backend(name: str, game: MultiAgentEnv, env_id: str, not_drawn: str) -> Backend:
    """A backend of one id for a two-action JaxMARL-API `game`, through jaxrl's JaxMARL adapter."""
    return Backend(
        name=name,
        knows=lambda asked: asked == env_id,
        candidates=lambda: [env_id],
        spec=lambda asked, **_: adapter.spec_of_env(game, asked),
        make=lambda asked, seeds, world_state=False, **_: adapter.pool_of(game, asked, seeds, world_state=world_state),
        action_space=lambda asked, instance=None: "Discrete(2)",
        renderer=cannot_draw(not_drawn),
        family=lambda asked: "marl",
    )


GAME = Coordination()
BACKEND = game_backend("coordination", GAME, ENV_ID, "a matrix game")


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
