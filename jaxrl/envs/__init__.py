"""Environments: the Env contract, id resolution and `make_env`, which returns a pool stepped from
inside jit. Each backend imports its library when an id needs it (EnvPool's and gymnasium's
imports cost tenths of a second that a run on the other backend need not pay)."""

import difflib

from jaxrl.core.types import Env, EnvSpec, Step  # the contract, defined in the core that runs it
from jaxrl.envs import envpool as envpool_backend
from jaxrl.envs import gymnasium as gymnasium_backend
from jaxrl.envs.ids import (
    ALIASES,
    UnknownEnvError,
    env_family,
    env_seeds,
    is_atari_id,
    is_mujoco_id,
    unsupported_actions,
)

__all__ = [
    "Env", "EnvSpec", "Step", "UnknownEnvError", "action_space", "check_rendering", "env_family", "env_seeds",
    "env_spec", "is_atari_id", "make_env", "resolve_env_id", "unsupported_actions",
]  # fmt: skip

check_rendering = gymnasium_backend.check_rendering  # videos render through gymnasium

BACKENDS = ("envpool", "gymnasium")


def resolve_env_id(name: str, backend: str | None = None) -> tuple[str, str]:
    """(env id, backend) for a name: an alias (`Pong` -> `Pong-v5`), an EnvPool id, or any
    gymnasium id with a Discrete or Box action space. EnvPool wherever it has the id, unless
    `backend` says otherwise. Rejects unknown ids (with the closest name) and Atari ids whose ROM
    is missing, each with a one-line reason."""
    if backend not in (None, *BACKENDS):
        raise UnknownEnvError(f"unknown backend '{backend}': choose one of {', '.join(BACKENDS)}")
    env_id = ALIASES.get(name, name)
    known = envpool_backend.supported_ids(mujoco=is_mujoco_id(env_id))
    if env_id in known and backend != "gymnasium":
        return env_id, "envpool"
    game = envpool_backend.missing_rom(env_id)
    if game is not None and backend != "gymnasium":
        raise UnknownEnvError(
            f"{env_id}: no ROM {game}.bin in EnvPool's ROM folder {envpool_backend.rom_dir()}; reinstall envpool"
        )
    if backend != "envpool" and gymnasium_backend.registered(env_id):
        gymnasium_backend.spec(env_id)  # raises, with the reason, if jaxrl cannot train on it
        return env_id, "gymnasium"
    candidates = list(ALIASES) + envpool_backend.supported_ids(mujoco=True)
    close = difflib.get_close_matches(name, candidates, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    where = " in EnvPool" if backend == "envpool" else ""
    raise UnknownEnvError(f"unknown env '{name}'{where}{hint}")


def backend_module(backend: str):
    return gymnasium_backend if backend == "gymnasium" else envpool_backend


def action_space(env_id: str, backend: str) -> str:
    """The action space of a resolved id as gymnasium prints it: `Discrete(2)`,
    `Box(-1.0, 1.0, (6,), float64)`; its kind is the name before the parenthesis."""
    return str(backend_module(backend).action_space(env_id))


def make_env(env_id: str, seeds: list[int], backend: str = "envpool", **options) -> Env:
    """One pool with an env per seed. `options` are backend settings (Atari preprocessing)."""
    return backend_module(backend).make(env_id, seeds, **options)


def env_spec(env_id: str, backend: str = "envpool", **options) -> EnvSpec:
    """What a pool of this env would be (shapes, dtypes, actions), without making one."""
    return backend_module(backend).spec(env_id, **options)
