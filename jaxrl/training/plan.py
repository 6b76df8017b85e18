"""What a run will do, decided before anything is opened, allocated or compiled: its members
(this process's share), its iterations and how they are cut into chunks, and the memory it needs.
Pure: a test builds one from a config without a run dir, a fleet or a clock."""

from typing import Any, NamedTuple

from jaxrl.algos import get_algorithm
from jaxrl.algos.base import Algorithm
from jaxrl.config import RunConfig
from jaxrl.errors import ConfigError
from jaxrl.search import PBT_IN_ONE_PROCESS
from jaxrl.training import memory
from jaxrl.training.assembly import num_iterations
from jaxrl.training.distributed import Peers
from jaxrl.training.population import Population, members_slice, population_of


class RunPlan(NamedTuple):
    algorithm: Algorithm
    static: Any  # the algorithm's Static
    everyone: Population  # the whole run's members (every process)
    mine: slice  # this process's members, in `everyone`
    population: Population  # this process's members
    steps_per_iteration: int  # env steps per member of one rollout
    num_iterations: int  # rollouts and updates of the whole run
    chunk: int  # iterations per chunk: one host sync each
    ready_every: int | None  # PBT: iterations between ready points (a chunk ends at each)
    need: memory.MemoryEstimate  # what this process will allocate

    @property
    def total_steps(self) -> int:
        """Env steps per member the run ends at: the budget in whole rollouts."""
        return self.num_iterations * self.steps_per_iteration

    def next_chunk(self, done: int) -> int:
        """Iterations of the chunk that starts after `done`: up to the next ready point and the end."""
        size = min(self.chunk, self.num_iterations - done)
        if self.ready_every:
            size = min(size, self.ready_every - done % self.ready_every)
        return size

    def ready_point(self, done: int) -> bool:
        """PBT: whether the chunk that ended after `done` iterations ends at a ready point (the
        run's end is none: nothing trains after it)."""
        return bool(self.ready_every) and done % self.ready_every == 0 and done < self.num_iterations

    def notes(self, config: RunConfig) -> list[str]:
        """What the person watching should know about the plan."""
        if self.total_steps == config.total_steps:
            return []
        return [f"training {self.total_steps:,} env steps per member (whole rollouts of {self.steps_per_iteration})"]


def make_plan(config: RunConfig, population: Population | None = None, peers: Peers | None = None) -> RunPlan:
    """The plan of `config` for this process of `peers` (default: the only one); `population`
    (default: the config's) is the whole run's."""
    peers = peers or Peers()
    if config.pbt and peers.count > 1:
        raise ConfigError(PBT_IN_ONE_PROCESS)
    algorithm = get_algorithm(config.algo)
    static = config.static
    everyone = population or population_of(algorithm, config)
    mine = peers.members(len(everyone.seeds))
    share = members_slice(everyone, mine)
    steps_per_iteration = static.num_envs * static.rollout_steps
    iterations = num_iterations(config, static)
    chunk = max(1, min(iterations, config.log_every // steps_per_iteration))
    ready_every = None
    if config.pbt:
        ready_every = max(1, config.pbt.ready_every // steps_per_iteration)
        chunk = min(chunk, ready_every)
    need = memory.estimate(algorithm, config, share)
    return RunPlan(algorithm, static, everyone, mine, share, steps_per_iteration, iterations, chunk, ready_every, need)
