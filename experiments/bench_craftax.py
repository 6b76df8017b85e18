"""bench.py's `craftax` section (issue 28), in its own module: Craftax-Classic-Symbolic env steps/s
with a fresh world generated for every env on every step (kept only where an episode ended: the
backend before optimistic resets) against optimistic resets (N // 16 worlds per step for the
pool), random actions and feed-forward PPO, interleaved in one process.
"""

import statistics
import time

import jax

ENV = "Craftax-Classic-Symbolic-v1"


class PerEnvResets:
    """The adapted env without its pool step: the gymnax pool vmaps its one-env step, which
    makes a world for every env on every step (the backend as it was before optimistic resets)."""

    def __init__(self, env):
        self.reset, self.step, self.default_params = env.reset, env.step, env.default_params
        self.observation_space, self.action_space = env.observation_space, env.action_space


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
    for way, instance in (("a world per env per step", PerEnvResets(env)), ("optimistic resets", env)):
        pool = gymnax.make(ENV, seeds, instance=(instance, params))
        run, handle = random_stepping(pool, steps), pool.reset()[0]
        programs[way] = lambda run=run, handle=handle: jax.block_until_ready(run(handle, jax.random.PRNGKey(0)))
    return {way: num_envs * steps / seconds for way, seconds in interleaved(programs, repeats).items()}


# Feed-forward PPO with the [craftax] preset's settings but 64 envs (a CPU's): one member.
PPO = dict(num_envs=64, rollout_steps=64, num_minibatches=8, recurrent="none", total_steps=64 * 64 * 1000)


def ppo_sps(repeats: int, iterations: int = 1) -> dict[str, float]:
    """{way: env steps/s} of PPO iterations (collect and update, one program), interleaved."""
    import numpy as np

    from jaxrl.algos import get_algorithm
    from jaxrl.config import resolve
    from jaxrl.envs import craftax
    from jaxrl.training.assembly import assemble
    from jaxrl.training.fleet import train_chunk
    from jaxrl.training.population import seed_population

    env, params = craftax.named(ENV)
    algorithm, programs = get_algorithm("ppo"), {}
    for way, instance in (("a world per env per step", PerEnvResets(env)), ("optimistic resets", env)):
        config = resolve(algorithm, {**craftax_preset(), **PPO}, env_instance=(instance, params))
        population = seed_population(algorithm, config)
        parts = assemble(config, population.seeds)
        runner = list(parts.programs.init(np.asarray(population.seeds, np.int32), population.hyper))

        def program(parts=parts, runner=runner, hyper=population.hyper):
            runner[0], runner[1], metrics = train_chunk(parts.programs, *runner, hyper, num_iterations=iterations)
            jax.block_until_ready(metrics)

        programs[way] = program
    steps = iterations * PPO["num_envs"] * PPO["rollout_steps"]
    return {way: steps / seconds for way, seconds in interleaved(programs, repeats).items()}


def craftax_preset() -> dict:
    """PPO's [craftax] table (an env object from Python gets no family's table)."""
    from jaxrl.config import load_preset

    return {key: value for key, value in load_preset("ppo", ENV, "craftax").items() if key != "log_every"}


def craftax(repeats: int, num_envs: int = 64, steps: int = 64) -> dict:
    measured = {"random actions": stepping(num_envs, steps, repeats), "PPO, 1 member": ppo_sps(repeats)}
    lines = [
        f"| {ENV}, {num_envs} envs | a world per env per step | optimistic resets | speed-up |",
        "|---|---|---|---|",
    ]
    for what, sps in measured.items():
        before, after = sps.values()
        lines.append(f"| {what}, env steps/s | {before:,.0f} | {after:,.0f} | {after / before:.1f}x |")
    return {
        "text": "\n".join(lines),
        "figures": {"repeats": repeats, "num_envs": num_envs, "random_steps": steps, "ppo": PPO, "sps": measured},
        "goals": [],
    }
