"""Shared helpers: build a population runner from a resolved config, without the CLI."""

import jax
import numpy as np
import pytest

from jaxrl.algos import get_algorithm
from jaxrl.config import resolve
from jaxrl.envs import env_seeds, make_env
from jaxrl.runner import make_runner, seed_population


def build_runner(algo: str, population=None, **options):
    """(runner, state, handle, hyper, env) for a config resolved as the CLI would resolve it;
    the population defaults to the config's seeds (`population(algorithm, config)` to change it)."""
    algorithm = get_algorithm(algo)
    config = resolve(algorithm, options)
    static = algorithm.Static(**config.static)
    population = (population or seed_population)(algorithm, config)
    seeds = [s for seed in population.seeds for s in env_seeds(seed, static.num_envs)]
    env = make_env(config.env, seeds, **config.env_options)
    iterations = config.total_steps // (static.num_envs * static.rollout_steps)
    agent = algorithm.build(static, env.spec, iterations)
    runner = make_runner(agent, env, len(population.seeds), static.rollout_steps)
    state, handle = runner.init(np.asarray(population.seeds, np.int32), population.hyper)
    return runner, state, handle, population.hyper, env


@pytest.fixture
def run_chunks():
    """Runs `chunks` jitted chunks of `iterations` and returns (final state, [metrics per chunk])."""
    envs = []

    def run(algo, chunks=2, iterations=2, population=None, **options):
        runner, state, handle, hyper, env = build_runner(algo, population, **options)
        envs.append(env)
        metrics = []
        for _ in range(chunks):
            state, handle, chunk_metrics = runner.train_chunk(state, handle, hyper, num_iterations=iterations)
            metrics.append(chunk_metrics)
        return jax.device_get(state), metrics

    yield run
    for env in envs:
        env.close()
