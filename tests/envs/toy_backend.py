"""A backend written outside jaxrl, as a user would write one: a JAX env that jaxrl has never
heard of, described by `jaxrl.envs.Backend` and added with `jaxrl.envs.register`. Nothing in
jaxrl names it.

"Guess-v0": each step shows two numbers drawn from N(0, 1); action 1 earns 1 where the first
is positive, action 0 where it is not. An episode is LENGTH steps, so a return is 0..LENGTH
(random play: LENGTH / 2). Its info is the step within the episode, so a test can watch the
info channel, and an episode's first obs, from the agent's side.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.envs import Backend, Env, EnvSpec, Step, UnknownEnvError, cannot_draw

ENV_ID = "Guess-v0"
LENGTH = 8
SPEC = EnvSpec(ENV_ID, (2,), "float32", 2)


class Handle(NamedTuple):
    count: jax.Array  # [N] int32: steps taken, which draws each obs
    time: jax.Array  # [N] int32: steps taken in this episode
    key: jax.Array  # [N, 2] uint32


def observe(handle: Handle) -> jax.Array:
    draw = jax.vmap(lambda key, count: jax.random.normal(jax.random.fold_in(key, count), (2,)))
    return draw(handle.key, handle.count)


def make(env_id: str, seeds: list[int], *, instance=None, groups: int = 1, threads: int = 0, **options) -> Env:
    n = len(seeds)

    def reset():
        # two arrays, not one twice: a JAX env's handle is donated to the program, leaf by leaf
        handle = Handle(
            jnp.zeros(n, jnp.int32), jnp.zeros(n, jnp.int32), jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds))
        )
        return handle, observe(handle)

    def step(handle: Handle, action):
        reward = (action == (observe(handle)[:, 0] > 0)).astype(jnp.float32)
        terminated = handle.time + 1 == LENGTH  # the env resets inside this step: the next obs is a new episode's
        handle = Handle(handle.count + 1, jnp.where(terminated, 0, handle.time + 1), handle.key)
        no = jnp.zeros(n, bool)
        info = {"time": handle.time}
        return handle, Step(observe(handle), reward, terminated, no, reward, terminated, reset_next=no, info=info)

    def first_info(handle: Handle):
        return {"time": handle.time}

    return Env(SPEC, n, reset, step, close=lambda: None, jax_native=True, first_info=first_info)


def spec(env_id: str, instance=None, **options) -> EnvSpec:
    return SPEC


BACKEND = Backend(
    name="toy",
    knows=lambda env_id: env_id == ENV_ID,
    candidates=lambda: [ENV_ID],
    spec=spec,
    make=make,
    action_space=lambda env_id, instance=None: "Discrete(2)",
    renderer=cannot_draw("the toy backend draws nothing"),
    family=lambda env_id: "classic",  # vector observations: the MLP presets
)


def make_host_stepped(env_id: str, seeds: list[int], **options) -> Env:
    """The same env run the way host-stepped pools are (collect and update, two programs)."""
    return make(env_id, seeds, **options)._replace(jax_native=False)


HOST_STEPPED = BACKEND._replace(name="toy-host", make=make_host_stepped)


def broken_spec(env_id: str, instance=None, **options) -> EnvSpec:
    raise RuntimeError("the simulator is not installed")


def refusing_knows(env_id: str) -> bool:
    if env_id == "Broken-v0":
        raise UnknownEnvError("Broken-v0: this toy refuses it")
    return env_id == ENV_ID
