"""gymnax backend: envs written in JAX, stepped inside the training program itself.

Anything with gymnax 1.0's API trains here: gymnax's own ids (`Breakout-MinAtar`, `CartPole-v1`,
...), a `module:factory` id whose factory returns `(env, params)`, or such a pair from Python. The
API: `reset(key, params) -> (obs, state)`, `step(key, state, action, params) -> (obs, state,
reward, terminated, truncated, info)` (resetting inside the step that ends an episode),
`observation_space(params)` and `action_space(params)`. Supported: gymnax >= 1.0 (tested with
1.0.1); gymnax 0.x's `step` returns 5 values and is refused with that reason.

The pool's handle is the envs' whole state (gymnax states, keys), a pytree with a leading env
axis, so a checkpoint can keep it. EnvPool's rules hold where they matter to learning: a
truncated step (gymnax's time limit) returns the episode's final obs, so the value of that obs is
bootstrapped, and the step after it is a reset step (its action ignored, `reset_next`) that
returns the new episode's first obs; a terminated step returns the new episode's first obs at once
(nothing is bootstrapped from it), with no reset step.
"""

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.core.compiling import device_argument, jit_once
from jaxrl.core.types import Env, EnvSpec, Step
from jaxrl.envs import gymnasium
from jaxrl.envs.base import OBSERVATION_PICTURES, Backend
from jaxrl.envs.ids import UnknownEnvError, id_family

# Suffixes only gymnax's ids carry: such a name is looked up in gymnax (and nothing else is,
# so a run on another backend never imports it).
SUFFIXES = ("-MinAtar", "-bsuite", "-misc")
MINATAR_GAMES = ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")


class Handle(NamedTuple):
    state: Any  # the env's state, leaves [N, ...]
    key: jax.Array  # [N, 2] uint32, each env's own key
    next_obs: jax.Array  # [N, *obs_shape]: the new episode's first obs, returned by the reset step
    reset_next: jax.Array  # [N] bool: the last step was truncated, the next is a reset step


# gymnax's ids that jaxrl has presets for, by module and class: they load without the rest.
MODULES = {
    "CartPole-v1": ("classic_control.cartpole", "CartPole"),
    "Acrobot-v1": ("classic_control.acrobot", "Acrobot"),
    "MountainCar-v0": ("classic_control.mountain_car", "MountainCar"),
    "Pendulum-v1": ("classic_control.pendulum", "Pendulum"),
    "MountainCarContinuous-v0": ("classic_control.continuous_mountain_car", "ContinuousMountainCar"),
    **{f"{game}-MinAtar": (f"minatar.{module}", f"Min{game}") for game, module in [
        ("Asterix", "asterix"), ("Breakout", "breakout"), ("Freeway", "freeway"), ("Seaquest", "seaquest"),
        ("SpaceInvaders", "space_invaders"),
    ]},
}  # fmt: skip


def lazy_package(name: str) -> None:
    """Puts package `name` in sys.modules without running its __init__; the first use of a name
    it does not have imports that name as a submodule, or else runs the __init__ (PEP 562), so
    code that uses the package whole (`gymnax.make`) finds it whole."""
    spec = importlib.util.find_spec(name)
    package = importlib.util.module_from_spec(spec)

    def __getattr__(attribute: str):
        if importlib.util.find_spec(f"{name}.{attribute}") is not None:
            return importlib.import_module(f"{name}.{attribute}")
        del package.__getattr__  # once: the __init__ defines the rest
        spec.loader.exec_module(package)
        return getattr(package, attribute)

    package.__getattr__ = __getattr__
    sys.modules[name] = package


def gymnax():
    """gymnax, imported by the first run that uses it, without what jaxrl does not use: gymnax's
    and gymnax.environments' __init__ import every env family, and with them matplotlib, seaborn
    and scipy (0.7 s here, a third of a CartPole run), where a run needs one module (MODULES).
    Their __init__ runs when something else is asked of them (lazy_package)."""
    if "gymnax" not in sys.modules and importlib.util.find_spec("gymnax") is not None:
        lazy_package("gymnax")
        lazy_package("gymnax.environments")
    return importlib.import_module("gymnax")


def registered(env_id: str) -> bool:
    return env_id in MODULES or env_id in gymnax().registered_envs


def builtin(env_id: str) -> tuple[Any, Any]:
    """(env, default params) of a gymnax id, as gymnax.make returns them."""
    if env_id not in MODULES:
        return gymnax().make(env_id)
    gymnax()
    module, name = MODULES[env_id]
    env = getattr(importlib.import_module(f"gymnax.environments.{module}"), name)()
    return env, env.default_params


def is_factory(name: str) -> bool:
    """`package.module:factory`: a module path and a Python name (gymnasium's `module:Env-v0`
    ids carry a version, which is no Python name)."""
    module, colon, attribute = name.partition(":")
    return bool(colon) and attribute.isidentifier() and all(part.isidentifier() for part in module.split("."))


def from_factory(name: str) -> tuple[Any, Any]:
    """The (env, params) that `package.module:factory` returns, or one line saying why not."""
    module_name, _, attribute = name.partition(":")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: a module beside the command is found
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UnknownEnvError(f"--env {name}: cannot import {module_name} ({error})") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise UnknownEnvError(f"--env {name}: {module_name} has no function {attribute}")
    try:
        made = factory()
    except Exception as error:  # the user's code: its failure, in one line
        raise UnknownEnvError(f"--env {name}: {attribute}() raised {type(error).__name__}: {error}") from None
    if not (isinstance(made, tuple) and len(made) == 2):
        raise UnknownEnvError(f"--env {name}: {attribute}() must return (env, env_params), not {type(made).__name__}")
    return made


def named(env_id: str) -> tuple[Any, Any]:
    """(env, params) for a gymnax id or a `module:factory` id."""
    if is_factory(env_id):
        return from_factory(env_id)
    return builtin(env_id)


def inspected(env, params, label: str) -> tuple[EnvSpec, bool]:
    """(the spec of a gymnax-API env, whether its step reports the final obs of an episode it
    resets), or UnknownEnvError (one line) if jaxrl cannot train on it: a missing method, an
    action space neither Discrete nor a bounded Box of vectors, observations that are neither
    vectors nor images [H, W, C], or gymnax 0.x's 5-value step. Traced, never compiled.

    gymnax 1.0 reports the final obs in info["final_observation"]; without it a truncation is
    taken as a termination (nothing to bootstrap from)."""
    for method in ("reset", "step", "observation_space", "action_space"):
        if not callable(getattr(env, method, None)):
            raise UnknownEnvError(
                f"{label}: the env has no {method}() (gymnax's API: reset, step, observation_space, action_space)"
            )
    try:
        actions, observations = traced_spaces(env, params)
        if not is_discrete(actions):  # a Box of actions: its bounds are read as numbers
            actions = env.action_space(params)
    except Exception as error:
        raise UnknownEnvError(f"{label}: its spaces cannot be read: {type(error).__name__}: {error}") from None
    fields = action_fields(actions, label)
    shape = tuple(getattr(observations, "shape", None) or ())
    if len(shape) not in (1, 2, 3):
        raise UnknownEnvError(
            f"{label} observes a {type(observations).__name__}{list(shape)}; jaxrl's networks take vectors, "
            "grids (flattened into an MLP) or images [H, W, C]"
        )
    key = jax.eval_shape(jax.random.PRNGKey, 0)
    try:
        obs, state = jax.eval_shape(env.reset, key, params)
        dtype = jnp.float32 if "action_shape" in fields else jnp.int32
        action = jax.ShapeDtypeStruct(fields.get("action_shape", ()), dtype)
        out = jax.eval_shape(env.step, key, state, action, params)
    except Exception as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise UnknownEnvError(f"{label}: reset or step fails: {type(error).__name__}: {reason}"[:400]) from None
    if len(out) != 6:
        raise UnknownEnvError(
            f"{label}: step returns {len(out)} values; jaxrl needs gymnax 1.0's six "
            "(obs, state, reward, terminated, truncated, info)"
        )
    if tuple(obs.shape) != shape:
        raise UnknownEnvError(f"{label}: reset's obs has shape {list(obs.shape)}, its observation space {list(shape)}")
    spec = EnvSpec(label, shape, np.dtype(obs.dtype).name, **fields, action_masks=hasattr(env, "action_mask"))
    return spec, isinstance(out[5], dict) and "final_observation" in out[5]


def traced_spaces(env, params) -> tuple[Any, Any]:
    """(action space, observation space), made inside a trace: gymnax builds their bounds with jnp
    ops (CartPole: an array and its negation), each an XLA program compiled of its own when run
    eagerly. Only their sizes are read from these (a Box's bounds are tracers)."""
    spaces = []
    jax.eval_shape(lambda: spaces.append((env.action_space(params), env.observation_space(params))))
    return spaces[0]


def is_discrete(space) -> bool:
    return isinstance(getattr(space, "n", None), int | np.integer)


def action_fields(space, label: str) -> dict:
    """EnvSpec's action fields for a gymnax Discrete space or a Box of action vectors [A]
    (bounds that are scalars hold for every component), or one line saying why not."""
    if is_discrete(space):
        return dict(num_actions=int(space.n))
    shape = tuple(getattr(space, "shape", None) or ())
    if not (hasattr(space, "low") and hasattr(space, "high")) or len(shape) != 1:
        raise UnknownEnvError(
            f"{label} acts in a {type(space).__name__}{list(shape)}; jaxrl trains on Discrete(n) actions "
            "or vectors in a Box(low, high, (A,))"
        )
    low, high = (np.broadcast_to(np.asarray(bound, np.float32), shape) for bound in (space.low, space.high))
    return dict(
        num_actions=shape[0],
        action_shape=shape,
        action_low=tuple(float(x) for x in low),
        action_high=tuple(float(x) for x in high),
    )


def action_space(env_id: str, instance: tuple[Any, Any] | None = None) -> str:
    """The env's action space written as gymnasium prints its own: Discrete(3), Box(-2.0, 2.0, (1,), float32)."""
    spec = spec_of(*(instance if instance is not None else named(env_id)), env_id)
    if not spec.continuous:
        return f"Discrete({spec.num_actions})"
    low, high = (bounds[0] if len(set(bounds)) == 1 else list(bounds) for bounds in (spec.action_low, spec.action_high))
    return f"Box({low}, {high}, {spec.action_shape}, float32)"


def spec_of(env, params, label: str) -> EnvSpec:
    return inspected(env, params, label)[0]


def spec(env_id: str, instance: tuple[Any, Any] | None = None, **_options) -> EnvSpec:
    """The spec of a gymnax id, a `module:factory` id, or (`instance`) an env object from Python."""
    return spec_of(*(instance if instance is not None else named(env_id)), env_id)


def split_keys(keys: jax.Array) -> tuple[jax.Array, jax.Array]:
    """A JAX-env pool's keys [N, 2] -> (the keys it keeps, the keys it uses now): each env its
    own sequence, so an env's randomness does not depend on the pool's size."""
    keys, use = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
    return keys, use


def seeded_keys(seeds: jax.Array) -> tuple[jax.Array, jax.Array]:
    """[N] seeds -> (the keys a pool keeps, the keys of its first reset)."""
    return split_keys(jax.vmap(jax.random.PRNGKey)(seeds))


def make(env_id: str, seeds: list[int], *, instance: tuple[Any, Any] | None = None, **_options) -> Env:
    """A pool of len(seeds) copies of the env; env i's keys come from seeds[i]. `instance`:
    (env, params) from Python (then `env_id` is only its label). One pool, stepped by the program
    itself: EnvPool's `groups` and `threads` mean nothing here."""
    env, params = instance if instance is not None else named(env_id)
    spec, final_obs = inspected(env, params, env_id)
    n = len(seeds)
    reset_envs = jax.vmap(env.reset, in_axes=(0, None))
    masks = mask_reader(env, params)
    # An env may step a whole pool itself (`step_batch`, same arguments with an env axis): Craftax
    # restarts its ended episodes from a few worlds made for the whole pool (optimistic resets).
    step_envs = getattr(env, "step_batch", None) or jax.vmap(env.step, in_axes=(0, 0, 0, None))

    @jit_once  # run once per pool (inside the init's program, a plain jit: see jit_once)
    def first(seeds):
        keys, reset_keys = seeded_keys(seeds)
        obs, state = reset_envs(reset_keys, params)
        obs = obs.astype(spec.obs_dtype)
        return Handle(state, keys, obs, jnp.zeros(n, bool)), obs

    def reset():
        return first(device_argument(seeds, np.int32))

    def step(handle: Handle, action):
        keys, step_keys = split_keys(handle.key)
        obs, state, reward, terminated, truncated, info = step_envs(
            step_keys, handle.state, action.astype(jnp.float32 if spec.continuous else jnp.int32), params
        )
        obs, terminated, truncated = obs.astype(spec.obs_dtype), terminated.astype(bool), truncated.astype(bool)
        if final_obs:
            truncated = truncated & ~terminated  # a natural end on the last step is an end
            final = info["final_observation"].astype(spec.obs_dtype)
        else:
            terminated, truncated, final = terminated | truncated, jnp.zeros_like(truncated), obs

        def per_env(flag, x, y):
            return jnp.where(flag.reshape(-1, *[1] * (x.ndim - 1)), x, y)

        restart = handle.reset_next  # this is the reset step: the env does not move
        state = jax.tree.map(lambda old, new: per_env(restart, old, new), handle.state, state)
        shown = per_env(restart, handle.next_obs, per_env(truncated, final, obs))
        reward = jnp.where(restart, 0.0, reward.astype(jnp.float32))
        terminated, truncated = terminated & ~restart, truncated & ~restart
        step = Step(shown, reward, terminated, truncated, reward, terminated | truncated, truncated, masks(state))
        step = step._replace(episode_info=episode_info(info))
        return Handle(state, keys, obs, truncated), step

    first_info = None if not hasattr(env, "action_mask") else lambda handle: masks(handle.state)
    return Env(spec, n, reset, step, lambda: None, jax_native=True, first_info=first_info)


def episode_info(info) -> dict:
    """The info entries an env reports about the episode a step ends: those named like a
    TensorBoard tag (with a "/": "craftax/achievement/collect_wood"), as float32 [N]."""
    if not isinstance(info, dict):
        return {}
    return {name: value.astype(jnp.float32) for name, value in info.items() if "/" in name}


def mask_reader(env, params) -> Callable[[Any], Any]:
    """(env states [N, ...]) -> the info of their observations: {"action_mask": bool [N, A]} for an
    env with `action_mask(state, params)`, else () (no info: nothing computed or stored). After
    an auto-reset the state is the new episode's, so a truncated episode's final obs is given the
    first obs's mask (its bootstrap then ranges over those actions)."""
    if not hasattr(env, "action_mask"):
        return lambda state: ()
    read = jax.vmap(env.action_mask, in_axes=(0, None))
    return lambda state: {"action_mask": read(state, params).astype(bool)}


def claims(env_id: str) -> str | None:
    """Ids no other backend can have: a `module:factory`, gymnax's suffixed ids."""
    if is_factory(env_id):
        return "a factory's env is a JAX env"
    if env_id.endswith(SUFFIXES):
        return f"ids ending in {', '.join(SUFFIXES)} are gymnax's"
    return None


def knows(env_id: str) -> bool:
    """A gymnax id or a `module:factory` jaxrl can train on (checked by tracing it); gymnax is
    imported whole only for suffixed ids outside MODULES."""
    if not (is_factory(env_id) or env_id in MODULES or env_id.endswith(SUFFIXES) and registered(env_id)):
        return False
    spec_of(*named(env_id), env_id)  # raises, with the reason, if jaxrl cannot train on it
    return True


def renderer(env_id: str, instance: tuple[Any, Any] | None = None) -> str:
    """gymnasium draws the ids it has too (CartPole-v1, ...); image observations are drawn as
    pictures of their channels; other envs are refused in one line."""
    if gymnasium.registered(env_id):
        return gymnasium.renderer(env_id)
    if len(spec(env_id, instance).obs_shape) == 3:
        return OBSERVATION_PICTURES
    raise UnknownEnvError(f"cannot draw {env_id}: gymnasium has no such env and its observations are not images")


BACKEND = Backend(
    name="gymnax",
    knows=knows,
    candidates=lambda: gymnax().registered_envs,
    spec=spec,
    make=make,
    action_space=action_space,
    renderer=renderer,
    family=id_family,
    claims=claims,
)
