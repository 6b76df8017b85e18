"""One assembly from a config: the algorithm, its static config, the env pool, the agent and the
programs. Training (per device group), evaluation, tests and benchmarks all build through it."""

from typing import Any, NamedTuple

from jaxrl.algos import get_algorithm
from jaxrl.algos.base import Algorithm
from jaxrl.config import RunConfig
from jaxrl.core.programs import Programs, group_major, make_programs
from jaxrl.core.types import Agent, Env
from jaxrl.envs import env_seeds, make_env


class Assembly(NamedTuple):
    algorithm: Algorithm
    static: Any  # the algorithm's Static
    env: Env  # members x envs_per_member envs: one pool, or `env_groups` pipelined pools
    agent: Agent
    programs: Programs  # for len(seeds) members


def num_iterations(config: RunConfig, static) -> int:
    """Rollouts and updates of the whole run: the budget in whole rollouts."""
    return config.total_steps // (static.num_envs * static.rollout_steps)


def evaluation_options(env_options: dict) -> dict:
    """Whole games in the game's own score: no reward clipping, no episodic life (Atari)."""
    return dict(env_options, episodic_life=False, reward_clip=False) if env_options else {}


def assemble(
    config: RunConfig,
    seeds: list[int],
    restarts: int = 0,
    envs_per_member: int | None = None,
    evaluation: bool = False,
) -> Assembly:
    """The pieces that train members with these run seeds: member k's envs are seeded by
    (seeds[k], env index, restarts). `envs_per_member` (default: the config's num_envs) and
    `evaluation` (unclipped whole games) serve `jaxrl eval`."""
    algorithm = get_algorithm(config.algo)
    static = config.static
    per_member = envs_per_member or static.num_envs
    groups = 1 if evaluation else config.env_groups  # evaluation steps whole games, nothing to overlap
    env = make_env(
        config.env,
        group_major([env_seeds(seed, per_member, restarts) for seed in seeds], groups),
        config.backend,
        config.env_instance,
        groups=groups,
        threads=config.env_threads,
        **(evaluation_options(config.env_options) if evaluation else config.env_options),
    )
    try:
        agent = algorithm.build(static, env.spec, num_iterations(config, static))
        programs = make_programs(agent, env, len(seeds), static.rollout_steps, algorithm.networks)
    except BaseException:
        env.close()
        raise
    return Assembly(algorithm, static, env, agent, programs)
