"""Probe envs with gymnax's API, written for the tests (no gymnax import: any object with the
four methods trains). Each catches a wrong algorithm or a wrong env rule in seconds (rejax's
tests/environments.py, after andyljones' debugging notes)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Discrete(NamedTuple):
    n: int


class Box(NamedTuple):
    shape: tuple


class Params(NamedTuple):
    horizon: int = 8  # steps before the time limit truncates an episode


class State(NamedTuple):
    time: jax.Array  # int32
    target: jax.Array  # int32, the action that pays


class Bandit:
    """Each episode: the obs tells which of 2 actions pays 1 (the other pays 0) for `horizon`
    steps; the episode terminates when the agent picks the wrong one, else it is truncated. A
    learner of the obs -> action map reaches a return of `horizon`."""

    def observe(self, state):
        return jax.nn.one_hot(state.target, 2)

    def reset(self, key, params):
        state = State(jnp.zeros((), jnp.int32), jax.random.randint(key, (), 0, 2))
        return self.observe(state), state

    def step(self, key, state, action, params):
        right = action == state.target
        reward = right.astype(jnp.float32)
        terminated = ~right
        time = state.time + 1
        truncated = time >= params.horizon
        final = State(time, state.target)
        reset_obs, reset_state = self.reset(key, params)
        done = terminated | truncated
        new_state = jax.tree.map(lambda a, b: jnp.where(done, a, b), reset_state, final)
        obs = jnp.where(done, reset_obs, self.observe(final))
        info = {"final_observation": self.observe(final)}
        return obs, new_state, reward, terminated, truncated, info

    def observation_space(self, params):
        return Box((2,))

    def action_space(self, params):
        return Discrete(2)

    @property
    def default_params(self):
        return Params()


class Continuous(Bandit):
    """A Box without bounds: jaxrl cannot clip its actions."""

    def action_space(self, params):
        return Box((1,))


class Dict(Bandit):
    def observation_space(self, params):
        return {"position": Box((2,))}


class OldApi(Bandit):
    """gymnax 0.x: step returns (obs, state, reward, done, info)."""

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = super().step(key, state, action, params)
        return obs, state, reward, terminated | truncated, info


def make_bandit():
    """`--env tests.envs.probes:make_bandit`: a factory returning (env, params)."""
    return Bandit(), Params(horizon=8)


def make_continuous():
    return Continuous(), Params()


def make_nothing():
    return Bandit()


class NoFinalObservation(Bandit):
    """Reports no final observation: a truncation cannot be bootstrapped."""

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, _info = super().step(key, state, action, params)
        return obs, state, reward, terminated, truncated, {}


class Position(NamedTuple):
    position: jax.Array  # int32, the state's index in the tables below


# The probe suite, one state per row: each episode starts in one of START, uniformly, and ends
# after one or two steps (always terminated: nothing to bootstrap). Observations are one-hot.
#   0, 1  one-step bandit: action 0 pays 1 in state 0, action 1 in state 1
#   2     two-step chain: action 1 leads to 3, which pays 1 on the next step; action 0 to 4 (pays 0)
#   5, 6  discounting: action 0 pays 1 now; action 1 waits a step in 7 (then pays 4) or 8 (pays
#         1.2). Trained with gamma 0.5, waiting is worth 2 in 5 and 0.6 in 6: a learner that does
#         not discount waits in both, one that discounts twice in neither.
START = (0, 1, 2, 5, 6)
GREEDY = {0: 0, 1: 1, 2: 1, 5: 1, 6: 0}  # the best action of each state where the action matters
PROBE_GAMMA = 0.5
END = -1
NEXT = ((END, END), (END, END), (4, 3), (END, END), (END, END), (END, 7), (END, 8), (END, END), (END, END))
PAYS = ((1.0, 0.0), (0.0, 1.0), (0.0, 0.0), (1.0, 1.0), (0.0, 0.0), (1.0, 0.0), (1.0, 0.0), (4.0, 4.0), (1.2, 1.2))


class Probes(Bandit):
    """A one-step contextual bandit, a two-step chain with a delayed reward and a discounting
    check in one env: one short run tells whether an algorithm learns all three (GREEDY)."""

    def observe(self, state):
        return jax.nn.one_hot(state.position, len(NEXT))

    def reset(self, key, params):
        state = Position(jnp.asarray(START)[jax.random.randint(key, (), 0, len(START))])
        return self.observe(state), state

    def step(self, key, state, action, params):
        following = jnp.asarray(NEXT)[state.position, action]
        reward = jnp.asarray(PAYS, jnp.float32)[state.position, action]
        terminated = following == END
        reset_obs, reset_state = self.reset(key, params)
        final = Position(jnp.maximum(following, 0))
        new_state = Position(jnp.where(terminated, reset_state.position, final.position))
        obs = jnp.where(terminated, reset_obs, self.observe(final))
        info = {"final_observation": jnp.where(terminated, self.observe(Position(state.position)), obs)}
        return obs, new_state, reward, terminated, jnp.zeros((), bool), info

    def observation_space(self, params):
        return Box((len(NEXT),))


class Reporting(Bandit):
    """Reports, on the step that ends an episode, its length under a tag (`probe/length`: a
    per-episode scalar for the logs) beside an entry without one (not logged)."""

    def step(self, key, state, action, params):
        obs, new_state, reward, terminated, truncated, info = super().step(key, state, action, params)
        length = (state.time + 1).astype(jnp.float32)
        return obs, new_state, reward, terminated, truncated, {**info, "probe/length": length, "untagged": length}
