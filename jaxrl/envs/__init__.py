"""Environments: the Env contract, the backends (`jaxrl.envs.base`) and the functions the rest of
jaxrl calls, each a loop over the registry or a question to one backend. Each backend imports its
library when an id needs it (EnvPool's, gymnasium's and gymnax's imports cost tenths of a second
that a run on another backend need not pay)."""

from typing import Any

from jaxrl.core.types import Env, EnvSpec, Step  # the contract, defined in the core that runs it
from jaxrl.envs import craftax as craftax_backend
from jaxrl.envs import envpool as envpool_backend
from jaxrl.envs import gymnasium as gymnasium_backend
from jaxrl.envs import gymnax as gymnax_backend
from jaxrl.envs import jaxmarl as jaxmarl_backend
from jaxrl.envs.base import (
    GYMNASIUM_FRAMES,
    OBSERVATION_PICTURES,
    POOL_DRAWINGS,
    Backend,
    ask,
    backend_named,
    cannot_draw,
    register,
    resolve,
    unregister,
)
from jaxrl.envs.ids import UnknownEnvError, env_seeds, is_atari_id, unsupported_actions

__all__ = [
    "GYMNASIUM_FRAMES", "OBSERVATION_PICTURES", "POOL_DRAWINGS", "Backend", "Env", "EnvSpec", "Step", "UnknownEnvError",
    "action_space", "cannot_draw", "env_family", "env_seeds", "env_spec", "is_atari_id", "make_env", "register",
    "renderer", "resolve_env_id", "resolve_env_object", "unregister", "unsupported_actions", "video_refusal",
]  # fmt: skip

register("envpool", envpool_backend.BACKEND, priority=0)  # the default wherever it has the id
register("craftax", craftax_backend.BACKEND, priority=5)  # claims only Craftax's own ids
register("gymnax", gymnax_backend.BACKEND, priority=10)
register("gymnasium", gymnasium_backend.BACKEND, priority=20)  # any gymnasium id, slower
register("jaxmarl", jaxmarl_backend.BACKEND, priority=30)  # multi-agent, agents folded into rows; slow import


def resolve_env_id(name: str, backend: str | None = None) -> tuple[str, str]:
    """(env id, backend) for a name: an alias (`Pong` -> `Pong-v5`), an EnvPool id, a gymnax id
    (`Breakout-MinAtar`) or `module:factory`, any gymnasium id with a Discrete or Box action
    space, or an id a registered backend knows: the first backend by priority that has it (EnvPool
    wherever it has the id), unless `backend` says which. Unknown ids, ids a backend has but jaxrl
    cannot train on (an Atari id without its ROM) and unknown backends: one line each."""
    return resolve(name, backend)


def resolve_env_object(env, params) -> str:
    """The label of a gymnax-API env object passed from Python (its class name), once jaxrl has
    checked that it can train on it."""
    label = type(env).__name__
    gymnax_backend.spec_of(env, params, label)
    return label


def action_space(env_id: str, backend: str, instance=None) -> str:
    """The action space of a resolved id as gymnasium prints it: `Discrete(2)`,
    `Box(-1.0, 1.0, (6,), float64)`; its kind is the name before the parenthesis."""
    return ask(backend_named(backend), "action_space", env_id, instance)


def make_env(
    env_id: str, seeds: list[int], backend: str = "envpool", instance=None, groups: int = 1, threads: int = 0, **options
) -> Env:
    """One pool with an env per seed. `options` are backend settings (Atari preprocessing);
    `instance`: a gymnax-API (env, params) from Python. EnvPool only: `groups` pipelined pools of
    consecutive seeds (`Env.groups`), `threads` of EnvPool's in all (0: EnvPool's choice)."""
    return ask(
        backend_named(backend), "make", env_id, seeds, instance=instance, groups=groups, threads=threads, **options
    )


def env_spec(env_id: str, backend: str = "envpool", instance=None, **options) -> EnvSpec:
    """What a pool of this env would be (shapes, dtypes, actions), without making one."""
    return ask(backend_named(backend), "spec", env_id, instance=instance, **options)


def env_family(env_id: str, backend: str) -> str:
    """The preset table an env takes its defaults from, before the table named by its id:
    "atari" (frame stacks, the Nature CNN), "minatar" ([10, 10, C] images, the MinAtar CNN),
    "mujoco" (continuous control) or "classic" (vector observations, MLPs): the backend says."""
    return ask(backend_named(backend), "family", env_id)


def renderer(env_id: str, backend: str, instance: Any = None) -> str:
    """How games of this env are drawn (GYMNASIUM_FRAMES, OBSERVATION_PICTURES or POOL_DRAWINGS), or
    UnknownEnvError with the one-line reason it cannot be."""
    return ask(backend_named(backend), "renderer", env_id, instance)


def video_refusal(env_id: str, backend: str, instance=None) -> str | None:
    """Why a game of this env cannot be drawn (one line), or None. Gymnasium's frames are rendered
    once here: MuJoCo needs EGL or OSMesa, which may be missing."""
    try:
        renderer(env_id, backend, instance)
    except UnknownEnvError as error:
        return str(error)
    return None
