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


def continuous_actions(env_id: str, space: str) -> UnknownEnvError:
    return UnknownEnvError(f"{env_id} has a continuous action space ({space}); jaxrl's algorithms need a discrete one")


def known_env_ids() -> list[str]:
    from jaxrl.envs import envpool as envpool_backend

    return envpool_backend.supported_ids()


BACKENDS = ("envpool", "gymnasium")


def resolve_env_id(name: str, backend: str | None = None) -> tuple[str, str]:
    """(env id, backend) for a name: an alias (`Pong` -> `Pong-v5`), an EnvPool id, or any
    gymnasium id with a discrete action space. EnvPool wherever it has the id, unless `backend`
    says otherwise. Rejects unknown ids (with the closest name), continuous action spaces, and
    Atari ids whose ROM is missing, each with a one-line reason."""
    from jaxrl.envs import envpool as envpool_backend

    if backend not in (None, *BACKENDS):
        raise UnknownEnvError(f"unknown backend '{backend}': choose one of {', '.join(BACKENDS)}")
    env_id = ALIASES.get(name, name)
    known = known_env_ids()
    if env_id in known and backend != "gymnasium":
        return env_id, "envpool"
    space = envpool_backend.action_space_name(env_id)
    if space is not None and space != "Discrete":
        raise continuous_actions(env_id, space)
    game = envpool_backend.missing_rom(env_id)
    if game is not None and backend != "gymnasium":
        raise UnknownEnvError(
            f"{env_id}: no ROM {game}.bin in EnvPool's ROM folder {envpool_backend.rom_dir()}; reinstall envpool"
        )
    if backend != "envpool" and gymnasium_registered(env_id):
        from jaxrl.envs import gymnasium as gymnasium_backend

        gymnasium_backend.make(env_id, [0]).close()  # raises, with the reason, if jaxrl cannot train on it
        return env_id, "gymnasium"
    candidates = list(ALIASES) + known
    close = difflib.get_close_matches(name, candidates, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    where = " in EnvPool" if backend == "envpool" else ""
    raise UnknownEnvError(f"unknown env '{name}'{where}{hint}")


def gymnasium_registered(env_id: str) -> bool:
    """A gymnasium id, ALE's included."""
    import ale_py
    import gymnasium

    from jaxrl.envs.gymnasium import gymnasium_id

    gymnasium.register_envs(ale_py)
    return gymnasium_id(env_id) in gymnasium.registry


def is_atari_id(env_id: str) -> bool:
    return env_id.endswith("-v5") or env_id.startswith("ALE/")


def env_seeds(run_seed: int, num_envs: int, restarts: int = 0) -> list[int]:
    """EnvPool seeds of one run's envs: a pure function of (run seed, env index, restarts). A
    resumed run restarts its envs; new seeds keep it from replaying the episodes it began with."""
    return [(run_seed * 100_003 + restarts * 1_000_003 + index) % 2**31 for index in range(num_envs)]


def make_env(env_id: str, seeds: list[int], backend: str = "envpool", **options) -> Env:
    """One pool with an env per seed. `options` are backend settings (Atari preprocessing)."""
    if backend == "gymnasium":
        from jaxrl.envs import gymnasium as gymnasium_backend

        return gymnasium_backend.make(env_id, seeds, **options)
    from jaxrl.envs import envpool as envpool_backend

    return envpool_backend.make(env_id, seeds, **options)
