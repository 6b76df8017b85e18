"""Environments: id resolution and `make_env`, which returns a pool stepped from inside jit."""

import difflib
from collections.abc import Callable
from typing import NamedTuple

import jax

ALIASES = {"CartPole": "CartPole-v1", "Pong": "Pong-v5", "Breakout": "Breakout-v5"}


class EnvSpec(NamedTuple):
    env_id: str
    obs_shape: tuple[int, ...]
    obs_dtype: str  # numpy dtype name: "float32" for CartPole, "uint8" for Atari frames
    num_actions: int
    is_atari: bool


class Step(NamedTuple):
    """What one step of the pool returns, every field with a leading env axis [N]."""

    obs: jax.Array  # next observation; the terminal one on a done step
    reward: jax.Array  # float32, the training reward (clipped for Atari by default)
    terminated: jax.Array  # bool, no bootstrap (a life loss with episodic life)
    truncated: jax.Array  # bool, time limit: bootstrap from obs
    game_reward: jax.Array  # float32, unclipped reward, for the reported episode return
    game_over: jax.Array  # bool, the whole game ended (all lives, or truncation)


class Env(NamedTuple):
    spec: EnvSpec
    num_envs: int
    reset: Callable[[], tuple[object, jax.Array]]  # host: () -> (handle, obs [N, ...])
    step: Callable[[object, jax.Array], tuple[object, Step]]  # jittable: (handle, action [N])
    close: Callable[[], None]


class UnknownEnvError(ValueError):
    pass


def known_env_ids() -> list[str]:
    from jaxrl.envs import envpool as envpool_backend

    return envpool_backend.supported_ids()


def resolve_env_id(name: str) -> str:
    """Maps a friendly alias (`Pong`) to its EnvPool id (`Pong-v5`); rejects unknown ids, ids
    with a continuous action space, and Atari ids whose ROM is missing, each with a reason."""
    from jaxrl.envs import envpool as envpool_backend

    env_id = ALIASES.get(name, name)
    known = known_env_ids()
    if env_id in known:
        return env_id
    game = envpool_backend.missing_rom(env_id)
    if game is not None:
        raise UnknownEnvError(
            f"{env_id}: no ROM {game}.bin in EnvPool's ROM folder {envpool_backend.rom_dir()}; reinstall envpool"
        )
    space = envpool_backend.action_space_name(env_id)
    if space is not None and space != "Discrete":
        raise UnknownEnvError(
            f"{env_id} has a continuous action space ({space}); jaxrl's algorithms need a discrete one"
        )
    candidates = list(ALIASES) + known
    close = difflib.get_close_matches(name, candidates, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise UnknownEnvError(f"unknown env '{name}'{hint}")


def is_atari_id(env_id: str) -> bool:
    return env_id.endswith("-v5")


def env_seeds(run_seed: int, num_envs: int, restarts: int = 0) -> list[int]:
    """EnvPool seeds of one run's envs: a pure function of (run seed, env index, restarts). A
    resumed run restarts its envs; new seeds keep it from replaying the episodes it began with."""
    return [(run_seed * 100_003 + restarts * 1_000_003 + index) % 2**31 for index in range(num_envs)]


def make_env(env_id: str, seeds: list[int], **options) -> Env:
    """One pool with an env per seed. `options` are backend settings (Atari preprocessing)."""
    from jaxrl.envs import envpool as envpool_backend

    return envpool_backend.make(env_id, seeds, **options)
