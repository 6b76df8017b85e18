"""bench.py's `craftax` section (issue 28), in its own module: Craftax-Classic-Symbolic env steps/s
with a fresh world generated for every env on every step (kept only where an episode ended: the
backend before optimistic resets) against optimistic resets (N // 16 worlds per step for the
pool), random actions and feed-forward PPO, interleaved in one process.
"""

import statistics
import time
from types import SimpleNamespace

import jax
import jax.numpy as jnp

ENV = "Craftax-Classic-Symbolic-v1"


def per_env_resets(env):
    """The adapted env without its pool step: the gymnax pool vmaps its one-env step, which
    makes a world for every env on every step (the backend as it was before optimistic resets)."""
    return SimpleNamespace(
        reset=env.reset, step=env.step, observation_space=env.observation_space, action_space=env.action_space
    )


def random_stepping(pool, steps: int):
    """A jitted program: `steps` steps of the pool with uniform random actions."""
    actions = pool.spec.num_actions

    @jax.jit
    def run(handle, key):
        def one(carry, key):
            handle, _ = pool.step(carry, jax.random.randint(key, (pool.num_envs,), 0, actions))
            return handle, ()

        return jax.lax.scan(one, handle, jax.random.split(key, steps))[0]

    return run


def interleaved(programs: dict, repeats: int) -> dict[str, float]:
    """{label: median seconds} of zero-argument callables (compiled by a first call), interleaved."""
    for program in programs.values():
        program()
    times: dict[str, list[float]] = {label: [] for label in programs}
    for _ in range(repeats):
        for label, program in programs.items():
            start = time.perf_counter()
            program()
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(seconds) for label, seconds in times.items()}


def stepping(num_envs: int, steps: int, repeats: int) -> dict[str, float]:
    """{way: env steps/s} with random actions, each way's pool of `num_envs` envs."""
    from jaxrl.envs import craftax, gymnax

    env, params = craftax.named(ENV)
    seeds = list(range(num_envs))
    programs = {}
    for way, instance in (("a world per env per step", per_env_resets(env)), ("optimistic resets", env)):
        pool = gymnax.make(ENV, seeds, instance=(instance, params))
        run, handle = random_stepping(pool, steps), pool.reset()[0]
        programs[way] = lambda run=run, handle=handle: jax.block_until_ready(run(handle, jax.random.PRNGKey(0)))
    return {way: num_envs * steps / seconds for way, seconds in interleaved(programs, repeats).items()}


def craftax(repeats: int, num_envs: int = 64, steps: int = 64) -> dict:
    sps = stepping(num_envs, steps, repeats)
    before, after = sps.values()
    lines = [
        f"| {ENV}, {num_envs} envs, random actions | env steps/s | x before |",
        "|---|---|---|",
        *(f"| {way} | {value:,.0f} | {value / before:.2f}x |" for way, value in sps.items()),
    ]
    return {
        "text": "\n".join(lines),
        "figures": {"repeats": repeats, "num_envs": num_envs, "steps": steps, "random_sps": sps},
        "goals": [],
    }


if __name__ == "__main__":
    print(craftax(3, steps=int(jnp.asarray(16)))["text"])
