"""Envs that need memory, with gymnax's API: probes and the POMDP benchmarks of issue 28.

Each trains as a `module:factory` id (`--env jaxrl.envs.memory:one_bit_memory`) or as the
(env, params) pair a factory returns:

- `one_bit_memory`: a bit shown at the first step only, asked at the last; 1 for the right
  answer. A feed-forward policy answers at chance (0.5), a memory solves it (1.0).
- `cartpole_positions`: gymnax's CartPole-v1 observing the cart's position and the pole's
  angle only (the velocities hidden), the usual POMDP CartPole.
- `breakout_without_trail`: Breakout-MinAtar without its trail channel. MinAtar is not
  frame-stacked (one [10, 10, 4] frame a step), but Breakout's trail channel (2) marks the
  ball's last cell, so one frame still shows the ball's direction; without it, it does not.
- `memory_chain_10`, `memory_chain_30`: bsuite's MemoryChain (gymnax's `MemoryChain-bsuite`,
  memory_length 5) with a longer memory; `memory_chain(n)` for any n from a factory of one's own.
"""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.envs.gymnax import builtin, gymnax


def spaces():
    """gymnax's spaces module, imported without gymnax's env families (jaxrl.envs.gymnax.gymnax)."""
    return gymnax().environments.spaces


class OneBitParams(NamedTuple):
    length: int = 4  # steps per episode: the bit is shown at the first, asked at the last


class OneBitState(NamedTuple):
    time: jax.Array  # int32, the step of the episode
    bit: jax.Array  # int32, 0 or 1: the right answer


class OneBitMemory:
    """Obs [2]: (the bit as -1 or +1 at the first step, else 0; 1 at the last step: "answer
    now", else 0). Actions: 0 or 1. The last step pays 1 if the action is the bit and ends the
    episode (terminated); no other step pays. With `length` 1 the bit is shown when asked: a
    control a feed-forward policy solves."""

    @property
    def default_params(self) -> OneBitParams:
        return OneBitParams()

    def observe(self, state: OneBitState, params: OneBitParams) -> jax.Array:
        cue = jnp.where(state.time == 0, 2.0 * state.bit - 1.0, 0.0)
        return jnp.stack([cue, (state.time == params.length - 1).astype(jnp.float32)])

    def reset(self, key: jax.Array, params: OneBitParams) -> tuple[jax.Array, OneBitState]:
        state = OneBitState(jnp.zeros((), jnp.int32), jax.random.bernoulli(key).astype(jnp.int32))
        return self.observe(state, params), state

    def step(self, key: jax.Array, state: OneBitState, action: jax.Array, params: OneBitParams):
        asked = state.time == params.length - 1
        reward = (asked & (action == state.bit)).astype(jnp.float32)
        moved = OneBitState(state.time + 1, state.bit)
        reset_obs, reset_state = self.reset(key, params)
        new_state = jax.tree.map(lambda fresh, old: jnp.where(asked, fresh, old), reset_state, moved)
        final = self.observe(moved, params)
        obs = jnp.where(asked, reset_obs, final)
        return obs, new_state, reward, asked, jnp.zeros((), bool), {"final_observation": final}

    def observation_space(self, params: OneBitParams):
        return spaces().Box(-1.0, 1.0, (2,), jnp.float32)

    def action_space(self, params: OneBitParams | None = None):
        return spaces().Discrete(2)


class ObservedChannels:
    """An env whose observations keep only `keep` of their last axis (the step's final
    observation too): what a partially observed variant hides. Everything else is the env's."""

    def __init__(self, env: Any, keep: tuple[int, ...]):
        self.env, self.keep = env, jnp.asarray(keep)

    def __getattr__(self, name: str):  # default_params, name, num_actions, ... of the env
        return getattr(self.env, name)

    def reset(self, key: jax.Array, params: Any):
        obs, state = self.env.reset(key, params)
        return obs[..., self.keep], state

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any):
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        if "final_observation" in info:
            info = {**info, "final_observation": info["final_observation"][..., self.keep]}
        return obs[..., self.keep], state, reward, terminated, truncated, info

    def observation_space(self, params: Any):
        space = self.env.observation_space(params)
        shape = (*space.shape[:-1], len(self.keep))
        low, high = (
            jnp.broadcast_to(jnp.asarray(bound), space.shape)[..., self.keep] for bound in (space.low, space.high)
        )
        return spaces().Box(low, high, shape, space.dtype)

    def action_space(self, params: Any = None):
        return self.env.action_space(params)


def one_bit_memory(length: int = 4) -> tuple[OneBitMemory, OneBitParams]:
    return OneBitMemory(), OneBitParams(length)


def cartpole_positions() -> tuple[ObservedChannels, Any]:
    """CartPole-v1 observing (cart position, pole angle): its obs is (x, x_dot, theta, theta_dot)."""
    env, params = builtin("CartPole-v1")
    return ObservedChannels(env, (0, 2)), params


def breakout_without_trail() -> tuple[ObservedChannels, Any]:
    """Breakout-MinAtar's channels (paddle 0, ball 1, trail 2, brick 3) less the trail."""
    env, params = builtin("Breakout-MinAtar")
    return ObservedChannels(env, (0, 1, 3)), params


def memory_chain(memory_length: int = 5) -> tuple[Any, Any]:
    """bsuite's MemoryChain with `memory_length` steps between the context and the query.
    gymnax's step returns the obs of the state before the step, so the context is seen twice
    (at the reset and after the first step) and an episode is memory_length + 1 steps; the answer
    pays +1 if right, -1 if wrong (a feed-forward policy's mean return is 0)."""
    env, params = builtin("MemoryChain-bsuite")
    return env, params.replace(memory_length=memory_length)


memory_chain_10 = functools.partial(memory_chain, 10)
memory_chain_30 = functools.partial(memory_chain, 30)
