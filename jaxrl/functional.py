"""The functional core, public: a whole training run on a JAX env as one pure function.

    train, hyper = make_train("ppo", "CartPole-v1", total_steps=100_000)
    agent_states, metrics = jax.jit(jax.vmap(train, in_axes=(0, None)))(keys, hyper)

`train(key, hyper) -> (agent_state, metrics)` holds no host callback, file or logger: jit it,
vmap it over keys, over `hyper`'s fields (`hyper.replace(lr=lr)` inside the vmapped function) or
both (PureJaxRL's `jax.vmap(make_train(config))(keys)`). It runs the session's own programs
(`core/programs.py`: a chunk of iterations as one `lax.scan`), as one member with the whole run as
one chunk. Host-stepped envs (EnvPool, gymnasium) cannot run inside a pure function: they train
through `jaxrl.train`.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.algos.base import Algorithm
from jaxrl.api import algorithm_named, env_instance
from jaxrl.config import RUN_FLAGS, RunConfig, check_options, flag, resolve
from jaxrl.core.programs import make_programs
from jaxrl.core.types import Agent, EnvSpec, initial_carry, reset_env
from jaxrl.envs import UnknownEnvError, make_env, resolve_env_id
from jaxrl.envs import gymnax as gymnax_backend
from jaxrl.envs.ids import ALIASES
from jaxrl.errors import ConfigError
from jaxrl.training.assembly import num_iterations
from jaxrl.training.evaluation import MAX_STEPS, acting_fn

HOST_ENV = "make_train needs a JAX env; EnvPool and gymnasium pools run through jaxrl.train"
# The run settings that mean something to a pure function; the others belong to a session (the
# caller's keys and vmap replace seeds, its own code replaces logs, checkpoints and targets).
PURE_SETTINGS = ("env", "backend", "config", "total_steps")


class Setup(NamedTuple):
    config: RunConfig
    algorithm: Algorithm
    static: Any  # the algorithm's Static
    spec: EnvSpec
    agent: Agent


def is_host_env(env: Any) -> bool:
    """An id only EnvPool or gymnasium knows, or an object with gymnasium's API (its spaces are
    attributes, gymnax's are methods)."""
    if not isinstance(env, str):
        return hasattr(env, "observation_space") and not callable(env.observation_space)
    env_id = ALIASES.get(env, env)
    if gymnax_backend.is_factory(env_id) or gymnax_backend.registered(env_id):
        return False
    try:
        return resolve_env_id(env)[1] != "gymnax"
    except UnknownEnvError:
        return False  # unknown everywhere: the gymnax resolution says so, with the closest id


def setup(algo: str, env: Any, env_params: Any, options: dict) -> Setup:
    """The resolved config (presets applied, the env resolved by the JAX backend only) and the
    agent, or ConfigError with one line: all before anything is traced or compiled."""
    algorithm = algorithm_named(algo)
    check_options(algorithm, "train", options)
    session_only = [name for name in options if name in RUN_FLAGS and name not in PURE_SETTINGS]
    if session_only:
        raise ConfigError(
            f"make_train takes no {flag(session_only[0])}: a pure train(key, hyper) takes "
            f"{', '.join(PURE_SETTINGS)} and the algorithm's fields (vmap over keys for seeds)"
        )
    if options.get("backend") not in (None, "gymnax") or is_host_env(env):
        raise ConfigError(HOST_ENV)
    options = dict(options, env=env, env_params=env_params, backend="gymnax")
    instance = env_instance(options)
    config = resolve(algorithm, options, instance)
    static = config.static
    spec = config.spec  # probed once, by resolve
    agent = algorithm.build(static, spec, num_iterations(config, static))
    return Setup(config, algorithm, static, spec, agent)


def scalar_hyper(setup: Setup):
    """The config's hyperparameters (presets applied) as the algorithm's Hyper of float32 scalars."""
    return jax.tree.map(jnp.float32, setup.config.hyper)


def env_pool(setup: Setup, key: jax.Array, num_envs: int):
    """`num_envs` copies of the env, seeded from `key`: gymnax's pool takes its seeds as an array,
    here a traced one, so different keys play different episodes."""
    seeds = jax.random.randint(key, (num_envs,), 0, jnp.iinfo(jnp.int32).max, jnp.int32)
    return make_env(setup.config.env, seeds, "gymnax", setup.config.env_instance)


def member_axis(tree):
    return jax.tree.map(lambda x: jnp.expand_dims(x, 0), tree)


def only_member(tree):
    return jax.tree.map(lambda x: jnp.squeeze(x, 0), tree)


def make_train(algo: str, env: Any, env_params: Any = None, **options) -> tuple[Callable, Any]:
    """(train, hyper) for `algo` on a JAX env: a gymnax id (`"CartPole-v1"` is gymnax's), a
    `module:factory` id, or an env object with gymnax's API (with `env_params`, default its
    default_params). `options`: `jaxrl.train`'s fields that a pure function can take (total_steps,
    config, every Static and Hyper field), presets applied; bad input raises ConfigError here.

    `train(key, hyper) -> (agent_state, metrics)`: one member trained for the run's whole budget;
    `metrics` holds a value per iteration ([num_iterations] each): "episode_return" (the mean
    return of the episodes that ended in it, NaN if none), "recent_return" (over the last 20),
    "env_steps", the algorithm's losses. `hyper`: the config's Hyper, of float32 scalars."""
    parts = setup(algo, env, env_params, options)
    iterations = num_iterations(parts.config, parts.static)
    # Orthogonal initialisation runs a QR, and jaxlib's batched QR can deadlock XLA's CPU thread
    # pool (core/population.py: init_learning; seen here too): under the caller's vmap, members
    # are initialised one after another.
    agent = parts.agent._replace(init=jax.custom_batching.sequential_vmap(parts.agent.init))

    def train(key: jax.Array, hyper) -> tuple[Any, dict]:
        env_key, member_key = jax.random.split(key)
        pool = env_pool(parts, env_key, parts.static.num_envs)
        programs = make_programs(agent, pool, 1, parts.static.rollout_steps, parts.algorithm.networks)
        seed = jax.random.randint(member_key, (1,), 0, jnp.iinfo(jnp.int32).max, jnp.int32)
        hyper = member_axis(hyper)
        state, handle = programs.init(seed, hyper)
        state, _, (metrics,) = programs.dispatch(state, handle, hyper, iterations)
        metrics = {name: value[:, 0] for name, value in metrics.items()}  # [n, 1] -> [n]
        ended = metrics["episodes_ended"]
        metrics["episode_return"] = jnp.where(ended > 0, metrics["episode_return_sum"] / jnp.maximum(ended, 1), jnp.nan)
        return only_member(state.agent), metrics

    return train, scalar_hyper(parts)


def make_evaluate(algo: str, env: Any, env_params: Any = None, episodes: int = 10, **options) -> Callable:
    """`evaluate(key, agent_state) -> returns [episodes]`: the first game of each of `episodes`
    envs seeded from `key`, greedy (the argmax of the preferences; for Box actions the
    deterministic action), pure like `train`. Takes make_train's arguments."""
    parts = setup(algo, env, env_params, options)
    act = acting_fn(parts.agent, False, parts.spec)

    def evaluate(key: jax.Array, agent_state) -> jax.Array:
        pool = env_pool(parts, key, episodes)
        handle, obs, info = reset_env(pool)
        zeros = jnp.zeros(episodes)

        def playing(carry):
            _, _, _, _, over, steps, _ = carry
            return ~over.all() & (steps < MAX_STEPS)

        def step(carry):
            handle, obs, info, returns, over, steps, agent_carry = carry
            first = jnp.broadcast_to(steps == 0, (episodes,))  # whole games: only the first obs starts one
            action, agent_carry = act(agent_state, agent_carry, obs, first, key, info)
            handle, result = pool.step(handle, action)
            returns = returns + jnp.where(over, 0.0, result.game_reward)
            return handle, result.obs, result.info, returns, over | result.game_over, steps + 1, agent_carry

        carry = (handle, obs, info, zeros, zeros.astype(bool), 0, initial_carry(parts.agent, episodes))
        return jax.lax.while_loop(playing, step, carry)[3]

    return evaluate
