"""Environments: the Env contract, id resolution and `make_env`, which returns a pool stepped from
inside jit. Each backend imports its library when an id needs it (EnvPool's, gymnasium's and
gymnax's imports cost tenths of a second that a run on another backend need not pay)."""

import difflib

from jaxrl.core.types import Env, EnvSpec, Step  # the contract, defined in the core that runs it
from jaxrl.envs import envpool as envpool_backend
from jaxrl.envs import gymnasium as gymnasium_backend
from jaxrl.envs import gymnax as gymnax_backend
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
    "Env", "EnvSpec", "Step", "UnknownEnvError", "action_space", "env_family", "env_seeds", "env_spec", "is_atari_id",
    "make_env", "resolve_env_id", "resolve_env_object", "unsupported_actions", "video_refusal",
]  # fmt: skip

BACKENDS = ("envpool", "gymnasium", "gymnax")


def resolve_gymnax(name: str, env_id: str, backend: str | None) -> tuple[str, str] | None:
    """(env id, "gymnax") for a `module:factory` id, for an id only gymnax has (`*-MinAtar`), or
    for any gymnax id with `--backend gymnax`; None for the other backends' ids."""
    if gymnax_backend.is_factory(env_id):
        if backend not in (None, "gymnax"):
            raise UnknownEnvError(f"--env {env_id}: a factory's env is a JAX env: use --backend gymnax")
        gymnax_backend.spec_of(*gymnax_backend.from_factory(env_id), env_id)
        return env_id, "gymnax"
    if backend not in (None, "gymnax") or backend is None and not env_id.endswith(gymnax_backend.SUFFIXES):
        return None
    if gymnax_backend.registered(env_id):
        gymnax_backend.spec_of(*gymnax_backend.named(env_id), env_id)  # raises if jaxrl cannot train on it
        return env_id, "gymnax"
    if backend != "gymnax":
        return None
    close = difflib.get_close_matches(name, gymnax_backend.gymnax().registered_envs, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise UnknownEnvError(f"unknown env '{name}' in gymnax{hint}")


def resolve_env_id(name: str, backend: str | None = None) -> tuple[str, str]:
    """(env id, backend) for a name: an alias (`Pong` -> `Pong-v5`), an EnvPool id, a gymnax id
    (`Breakout-MinAtar`) or `module:factory`, or any gymnasium id with a Discrete or Box action
    space. EnvPool wherever it has the id, unless `backend` says otherwise. Rejects unknown ids
    (with the closest name) and Atari ids whose ROM is missing, each with a one-line reason."""
    if backend not in (None, *BACKENDS):
        raise UnknownEnvError(f"unknown backend '{backend}': choose one of {', '.join(BACKENDS)}")
    env_id = ALIASES.get(name, name)
    if gymnax_backend.is_factory(env_id) or backend == "gymnax":
        return resolve_gymnax(name, env_id, backend)
    known = envpool_backend.supported_ids(mujoco=is_mujoco_id(env_id))
    if env_id in known and backend != "gymnasium":
        return env_id, "envpool"
    jax_env = resolve_gymnax(name, env_id, backend)
    if jax_env is not None:
        return jax_env
    game = envpool_backend.missing_rom(env_id)
    if game is not None and backend != "gymnasium":
        raise UnknownEnvError(
            f"{env_id}: no ROM {game}.bin in EnvPool's ROM folder {envpool_backend.rom_dir()}; reinstall envpool"
        )
    if backend != "envpool" and gymnasium_backend.registered(env_id):
        gymnasium_backend.spec(env_id)  # raises, with the reason, if jaxrl cannot train on it
        return env_id, "gymnasium"
    candidates = list(ALIASES) + envpool_backend.supported_ids(mujoco=True)
    candidates += [f"{game}-MinAtar" for game in gymnax_backend.MINATAR_GAMES]
    close = difflib.get_close_matches(name, candidates, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    where = " in EnvPool" if backend == "envpool" else ""
    raise UnknownEnvError(f"unknown env '{name}'{where}{hint}")


def resolve_env_object(env, params) -> str:
    """The label of a gymnax-API env object passed from Python (its class name), once jaxrl has
    checked that it can train on it."""
    label = type(env).__name__
    gymnax_backend.spec_of(env, params, label)
    return label


def backend_module(backend: str):
    return {"gymnasium": gymnasium_backend, "gymnax": gymnax_backend}.get(backend, envpool_backend)


def action_space(env_id: str, backend: str, instance=None) -> str:
    """The action space of a resolved id as gymnasium prints it: `Discrete(2)`,
    `Box(-1.0, 1.0, (6,), float64)`; its kind is the name before the parenthesis."""
    if backend == "gymnax":
        return gymnax_backend.action_space(env_id, instance)
    return str(backend_module(backend).action_space(env_id))


def make_env(
    env_id: str, seeds: list[int], backend: str = "envpool", instance=None, groups: int = 1, threads: int = 0, **options
) -> Env:
    """One pool with an env per seed. `options` are backend settings (Atari preprocessing);
    `instance`: a gymnax-API (env, params) from Python. EnvPool only: `groups` pipelined pools of
    consecutive seeds (`Env.groups`), `threads` of EnvPool's in all (0: EnvPool's choice)."""
    if backend == "gymnax":
        return gymnax_backend.make(env_id, seeds, instance=instance)
    if backend == "envpool":
        return envpool_backend.make(env_id, seeds, num_threads=threads, groups=groups, **options)
    return backend_module(backend).make(env_id, seeds, **options)


def env_spec(env_id: str, backend: str = "envpool", instance=None, **options) -> EnvSpec:
    """What a pool of this env would be (shapes, dtypes, actions), without making one."""
    if backend == "gymnax":
        return gymnax_backend.spec(env_id, instance)
    return backend_module(backend).spec(env_id, **options)


def video_refusal(env_id: str, backend: str, instance=None) -> str | None:
    """Why a game of this env cannot be drawn (one line), or None. Games are drawn by gymnasium
    (EnvPool's ids, gymnasium's, and gymnax's ids that gymnasium has too: CartPole-v1, ...), or,
    for a JAX env with image observations (MinAtar), as a colour picture of the channels.
    Gymnasium's frames are rendered once here: MuJoCo needs EGL or OSMesa, which may be missing."""
    if backend != "gymnax" or gymnasium_backend.registered(env_id):
        try:
            gymnasium_backend.check_rendering(env_id)
        except UnknownEnvError as error:
            return str(error)
        return None
    if len(gymnax_backend.spec(env_id, instance).obs_shape) == 3:
        return None
    return f"cannot draw {env_id}: gymnasium has no such env and its observations are not images"
