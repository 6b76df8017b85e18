"""Craftax (Matthews et al., 2024) as an env backend: `Craftax-Classic-Symbolic-v1` and
`Craftax-Symbolic-v1`, stepped inside the training program like any gymnax env.

Craftax's `step` has gymnax 0.x's five values (obs, state, reward, done, info), so `Gymnax1`
adapts its non-resetting env to gymnax 1.0's six: a death (or, in Craftax, the boss beaten) is
a termination, the 10,000-step limit a truncation whose final obs is reported
(info["final_observation"]) so that jaxrl's gymnax backend bootstraps from it. Every pool, spec
and action space is then the gymnax backend's; the pool steps through `Gymnax1.step_batch`, which
restarts ended episodes from a few worlds made per step for the whole pool (optimistic resets).
On the step that ends an episode the info reports, under TensorBoard tags (the runner logs them
as means over ended episodes: `Step.episode_info`), whether the episode unlocked each achievement
(`craftax/achievement/<name>`, 0 or 1) and its score, the return as % of the most an episode can
earn (`craftax/percent_of_max`), the measure the Craftax paper reports (PPO-RNN: 15.3 % on
Craftax-Symbolic at 1B steps). Needs `craftax` (PyPI, tested with 1.6.1), imported by the first
run that uses it."""

import importlib
import importlib.util
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.core.types import Env, EnvSpec
from jaxrl.envs import gymnax
from jaxrl.envs.base import Backend, cannot_draw
from jaxrl.envs.ids import UnknownEnvError

IDS = ("Craftax-Classic-Symbolic-v1", "Craftax-Symbolic-v1")
FAMILY = "craftax"  # the preset table Craftax runs take their defaults from
ACHIEVEMENT_TAG = "craftax/achievement/"
SCORE_TAG = "craftax/percent_of_max"


def constants(env_id: str):
    """The Craftax game's constants module (its Achievement enum, its rewards)."""
    game = "craftax_classic" if env_id.startswith("Craftax-Classic") else "craftax"
    return importlib.import_module(f"craftax.{game}.constants")


def achievement_names(env_id: str) -> list[str]:
    return [achievement.name.lower() for achievement in constants(env_id).Achievement]


def max_return(env_id: str) -> float:
    """The most an episode can earn: each achievement's reward once (Classic: 1 each, 22 in
    all; Craftax: 1, 3, 5 or 8 by difficulty). Health changes add nothing over a whole episode:
    they sum to the final health less the initial, at most 0."""
    rewards = getattr(constants(env_id), "ACHIEVEMENT_REWARD_MAP", None)
    return float(len(achievement_names(env_id)) if rewards is None else jnp.sum(rewards))


def percent_of_max(env_id: str, episode_return: jax.Array) -> jax.Array:
    return 100.0 * episode_return / max_return(env_id)


# Optimistic resets (Craftax's own speed device, its OptimisticResetVecEnvWrapper, written anew):
# generating a world costs far more than a step, so a pool of N envs makes N // 16 fresh worlds
# per step (at least one) and hands them to the envs whose episode ended, instead of making one
# per env and keeping it only where an episode ended. Episodes last hundreds of steps, so more
# than N / 16 envs rarely end at once; when they do, some start in the same world (with their
# own keys from there on), as in Craftax's wrapper.
ENVS_PER_RESET = 16


class Tracked(NamedTuple):
    """Craftax's state and the return of its episode so far (for `craftax/percent_of_max`)."""

    game: Any
    episode_return: jax.Array  # float32


class Gymnax1:
    """Craftax's non-resetting env with gymnax 1.0's API: the step resets the episode it ends
    and reports its final obs, and tells a termination from the time limit's truncation.
    `step_batch` steps a whole pool with optimistic resets (the gymnax pool uses it)."""

    def __init__(self, env: Any, env_id: str):
        self.env, self.names, self.max_return = env, achievement_names(env_id), max_return(env_id)

    @property
    def default_params(self):
        return self.env.default_params

    def reset(self, key: jax.Array, params: Any):
        obs, state = self.env.reset(key, params)
        return obs, Tracked(state, jnp.zeros((), jnp.float32))

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any):
        """One env: a pool of one (its one fresh world made from its own key)."""
        batch = jax.tree.map(lambda x: jnp.asarray(x)[None], (key, state, action))
        return jax.tree.map(lambda x: x[0], self.step_batch(*batch, params))

    def step_batch(self, keys: jax.Array, state: Any, action: jax.Array, params: Any):
        """N envs ([N, ...] leaves) one step, the ended ones restarted from N // 16 fresh worlds."""
        step_keys, reset_keys = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
        step = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))
        final_obs, ended_state, reward, done, _ = step(step_keys, state.game, action, params)
        episode_return = state.episode_return + reward
        # A death on the limit's own step counts as the truncation: one bootstrap in 10,000 steps.
        truncated = done & (ended_state.timestep >= params.max_timesteps)
        num_resets = max(1, done.shape[0] // ENVS_PER_RESET)
        reset_obs, reset_state = jax.vmap(self.env.reset, in_axes=(0, None))(reset_keys[:num_resets], params)
        world = (jnp.cumsum(done) - 1) % num_resets  # the k-th ended env takes world k mod num_resets

        def restarted(fresh, old):
            return jnp.where(done.reshape(-1, *[1] * (old.ndim - 1)), fresh[world], old)

        state = Tracked(jax.tree.map(restarted, reset_state, ended_state), jnp.where(done, 0.0, episode_return))
        unlocked = (ended_state.achievements & done[:, None]).astype(jnp.float32)  # [N, num achievements]
        info = {f"{ACHIEVEMENT_TAG}{name}": unlocked[:, i] for i, name in enumerate(self.names)}
        info[SCORE_TAG] = jnp.where(done, 100.0 * episode_return / self.max_return, 0.0)
        info["final_observation"] = final_obs
        return restarted(reset_obs, final_obs), state, reward, done & ~truncated, truncated, info

    def observation_space(self, params: Any):
        return self.env.observation_space(params)

    def action_space(self, params: Any = None):
        return self.env.action_space(params)


def installed() -> bool:
    return importlib.util.find_spec("craftax") is not None


def named(env_id: str) -> tuple[Gymnax1, Any]:
    """(the adapted env, its default params), or one line saying why not."""
    if env_id not in IDS:
        raise UnknownEnvError(f"unknown Craftax env '{env_id}': choose one of {', '.join(IDS)}")
    if not installed():
        raise UnknownEnvError(f"--env {env_id} needs Craftax: pip install craftax==1.6.1")
    craftax_env = importlib.import_module("craftax.craftax_env")
    env = craftax_env.make_craftax_env_from_name(env_id, auto_reset=False)
    return Gymnax1(env, env_id), env.default_params


def knows(env_id: str) -> bool:
    """Craftax's ids; one line (not False) if one is asked for without Craftax installed."""
    if env_id not in IDS:
        return False
    named(env_id)
    return True


def claims(env_id: str) -> str | None:
    return "Craftax's ids are stepped by its own backend" if env_id.startswith("Craftax-") else None


def spec(env_id: str, instance: Any = None, **_options) -> EnvSpec:
    return gymnax.spec(env_id, instance if instance is not None else named(env_id))


def make(env_id: str, seeds: list[int], *, instance: Any = None, **_options) -> Env:
    """A pool of len(seeds) Craftax envs, the gymnax backend's pool of the adapted env."""
    return gymnax.make(env_id, seeds, instance=instance if instance is not None else named(env_id))


def action_space(env_id: str, instance: Any = None) -> str:
    return gymnax.action_space(env_id, instance if instance is not None else named(env_id))


def family(env_id: str) -> str:
    return FAMILY


BACKEND = Backend(
    name="craftax",
    knows=knows,
    candidates=lambda: IDS,
    spec=spec,
    make=make,
    action_space=action_space,
    renderer=cannot_draw("symbolic Craftax observations are vectors, not frames"),
    family=family,
    claims=claims,
)
