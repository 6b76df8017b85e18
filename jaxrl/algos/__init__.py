"""The algorithm contract and the registry of algorithms by name.

An algorithm is a static config (shapes, counts: shared by a population), a hyper config
(floats: one value per population member) and `build`, which returns three pure functions for
ONE member. The runner vmaps them over the population; algorithms never write a batch axis.
"""

import dataclasses
import difflib
import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

import jax


class Trajectory(NamedTuple):
    """One rollout of one member: T steps of E envs."""

    obs: jax.Array  # [T, E, *obs_shape] (uint8 frames stay uint8)
    action: jax.Array  # [T, E] int32
    reward: jax.Array  # [T, E] float32 training reward
    terminated: jax.Array  # [T, E] bool
    truncated: jax.Array  # [T, E] bool
    valid: jax.Array  # [T, E] bool; False on EnvPool's reset step (the step after done): never learn from it
    extras: dict  # [T, E] each, what `act` returned (log-prob, value, ...)
    last_obs: jax.Array  # [E, *obs_shape], the observation after the last step, for bootstrapping


class Agent(NamedTuple):
    init: Callable[[jax.Array, Any], Any]  # (key, hyper) -> state
    act: Callable[[Any, jax.Array, jax.Array], tuple[jax.Array, dict]]  # (state, obs [E, ...], key)
    learn: Callable[[Any, Trajectory, Any, jax.Array], tuple[Any, dict]]  # (state, traj, hyper, key)
    # (state, obs [E, ...]) -> [E, A]: policy logits or Q-values; evaluation acts greedily on them
    preferences: Callable[[Any, jax.Array], jax.Array]


def flatten_steps(batch):
    """Every [T, E, ...] leaf as [T*E, ...]: a rollout's steps as one batch of samples."""
    return jax.tree.map(lambda x: x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]), batch)


class Algorithm(NamedTuple):
    name: str
    Static: type  # frozen dataclass: fixes shapes and counts
    Hyper: type  # flax struct dataclass of floats: may differ between population members
    build: Callable[..., Agent]  # (static, env_spec, num_iterations) -> Agent
    check: Callable[[Any], None]  # raises ValueError on an inconsistent static config
    summary: str


MODULES = {
    "ppo": "jaxrl.algos.ppo",
    "reinforce": "jaxrl.algos.reinforce",
    "a2c": "jaxrl.algos.a2c",
    "dqn": "jaxrl.algos.dqn",
    "ddqn": "jaxrl.algos.dqn:DOUBLE_DQN",  # "module:ATTRIBUTE" where one module holds several
}


class UnknownAlgorithmError(ValueError):
    pass


def get_algorithm(name: str) -> Algorithm:
    if name not in MODULES:
        close = difflib.get_close_matches(name, list(MODULES), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UnknownAlgorithmError(f"unknown algorithm '{name}'{hint}")
    module, _, attribute = MODULES[name].partition(":")
    return getattr(importlib.import_module(module), attribute or "ALGORITHM")


def field_names(cls: type) -> list[str]:
    return [field.name for field in dataclasses.fields(cls)]
