"""Shared helpers: build a population's programs from a resolved config, without the CLI."""

import jax
import numpy as np
import pytest

from jaxrl.algos import get_algorithm
from jaxrl.config import resolve
from jaxrl.logs.progress import Progress
from jaxrl.logs.tensorboard import TensorBoard
from jaxrl.training import session
from jaxrl.training.assembly import assemble
from jaxrl.training.fleet import train_chunk
from jaxrl.training.population import seed_population


def build_programs(algo: str, population=None, **options):
    """(programs, state, handle, hyper, env) for a config resolved as the CLI would resolve it;
    the population defaults to the config's seeds (`population(algorithm, config)` to change it)."""
    algorithm = get_algorithm(algo)
    config = resolve(algorithm, options)
    population = (population or seed_population)(algorithm, config)
    parts = assemble(config, population.seeds)
    state, handle = parts.programs.init(np.asarray(population.seeds, np.int32), population.hyper)
    return parts.programs, state, handle, population.hyper, parts.env


@pytest.fixture
def run_chunks():
    """Runs `chunks` jitted chunks of `iterations` and returns (final state, [metrics per chunk])."""
    envs = []

    def run(algo, chunks=2, iterations=2, population=None, **options):
        programs, state, handle, hyper, env = build_programs(algo, population, **options)
        envs.append(env)
        metrics = []
        for _ in range(chunks):
            state, handle, chunk_metrics = train_chunk(programs, state, handle, hyper, num_iterations=iterations)
            metrics.append(chunk_metrics)
        return jax.device_get(state), metrics

    yield run
    for env in envs:
        env.close()


def train(config, population=None, progress: bool = False, **options) -> dict:
    """A run as the command line trains it (TensorBoard logs included), with its progress
    display (and notes) only if asked; returns the summary."""
    return session.train(config, [TensorBoard(), *[Progress()] * progress], population, **options)


def assert_member_is_the_single_run(population: list[dict], single: list[dict], member: int) -> None:
    """The chunk metrics of population member `member` equal those of the single run (member 0),
    key by key, chunk by chunk (`run_chunks` results)."""
    for chunk_population, chunk_single in zip(population, single, strict=True):
        assert chunk_population.keys() == chunk_single.keys()
        for key in chunk_single:
            np.testing.assert_allclose(chunk_population[key][:, member], chunk_single[key][:, 0], rtol=1e-5, atol=1e-6)


class ChunkRecorder:
    """A logger keeping every chunk's metrics."""

    def __init__(self):
        self.chunks = []

    def open(self, run): ...
    def log_chunk(self, metrics, elapsed_s):
        self.chunks.append({key: np.array(value) for key, value in metrics.items()})

    def log_hparams(self, member_hparams, final_returns, step): ...
    def log_video(self, member, frames, fps, step): ...
    def note(self, text): ...
    def flush(self): ...
    def close(self): ...
