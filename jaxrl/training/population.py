"""Who trains: the members of a run, their seeds, hyperparameters and names."""

import dataclasses
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxrl.algos.base import Algorithm
from jaxrl.config import RunConfig
from jaxrl.search import point_labels


class Population(NamedTuple):
    seeds: list[int]  # [P]
    # the algorithm's Hyper with [P] float32 leaves, NumPy arrays: made on the device, each would
    # compile an eager program (the run puts them there)
    hyper: Any
    names: list[str]  # TensorBoard run names, one per member


def seed_population(algorithm: Algorithm, config: RunConfig) -> Population:
    """Every member shares the config's hyperparameters; members differ by seed."""
    seeds = config.run_seeds
    hyper = jax.tree.map(lambda value: np.full((len(seeds),), value, np.float32), config.hyper)
    return Population(seeds, hyper, [f"s{seed}" for seed in seeds])


def sweep_population(hyper_cls, defaults: dict[str, float], points: list[dict[str, float]], seeds: list[int]):
    """Members point-major: point i, seed j is member i * len(seeds) + j."""
    members = [
        (point, label, seed) for point, label in zip(points, point_labels(points), strict=True) for seed in seeds
    ]
    hyper = hyper_cls(
        **{
            key: np.asarray([point.get(key, default) for point, _, _ in members], np.float32)
            for key, default in defaults.items()
        }
    )
    names = [",".join(filter(None, [label, f"s{seed}"])) for _, label, seed in members]
    return Population([seed for _, _, seed in members], hyper, names)


def pbt_population(algorithm: Algorithm, config: RunConfig) -> Population:
    """`config.seeds` populations of `config.pbt.population` members: member s * N + n is
    member n of population s, with its own seed (config.seed + its index) and its starting point
    (config.pbt.points), named m<n> (p<s>-m<n> with several populations)."""
    size, points = config.pbt.population, config.pbt.points
    seeds = [config.seed + member for member in range(len(points))]
    hyper = algorithm.Hyper(
        **{
            key: np.asarray([point.get(key, default) for point in points], np.float32)
            for key, default in dataclasses.asdict(config.hyper).items()
        }
    )
    names = [f"m{m % size:02d}" if config.seeds == 1 else f"p{m // size}-m{m % size:02d}" for m in range(len(points))]
    return Population(seeds, hyper, names)


def population_of(algorithm: Algorithm, config: RunConfig) -> Population:
    """The population a config describes: PBT's members, a sweep's points x seeds, else its seeds."""
    if config.pbt:
        return pbt_population(algorithm, config)
    if config.sweep:
        return sweep_population(
            algorithm.Hyper, dataclasses.asdict(config.hyper), config.sweep.points, config.run_seeds
        )
    return seed_population(algorithm, config)


def member_hparams(population: Population) -> list[dict]:
    """Per member, its hyperparameters and seed; float32 values as their shortest decimal
    (0.98, not 0.9800000190734863)."""
    return [
        {
            **{key: float(str(np.asarray(value)[member])) for key, value in vars(population.hyper).items()},
            "seed": seed,
        }
        for member, seed in enumerate(population.seeds)
    ]


def members_slice(population: Population, members: slice) -> Population:
    return Population(
        population.seeds[members],
        jax.tree.map(lambda x: x[members], population.hyper),
        population.names[members],
    )
