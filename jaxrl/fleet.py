"""A population spread over the local devices: equal groups of members, one group per device,
each group with its own env pool and its own compiled programs, chosen automatically when more
than one device is present.

Why groups and not one sharded program: EnvPool's XLA call embeds the address of ONE pool and
has no partitioning rule, so a program stepping envs cannot be split across devices by XLA; the
runner's programs for one group already vmap its members. Every iteration is dispatched to
every device before any result is awaited, so the devices work at the same time. Member k
computes exactly what it computes in a one-device run (same seeds, same env seeds), and a
checkpoint holds the whole population, whatever the number of devices that wrote it.
"""

from typing import Any, NamedTuple

import jax
import numpy as np

from jaxrl.runner import Population, Runner, drop_replay, host_metrics, make_runner, resumed_state, saved_state


def group_count(size: int, devices: int) -> int:
    """The most devices that split `size` members into equal groups."""
    return max(count for count in range(1, min(size, devices) + 1) if size % count == 0)


class Group(NamedTuple):
    members: range  # population indices
    device: Any
    env: Any
    agent: Any
    runner: Runner
    hyper: Any  # the members' Hyper, on `device`
    seeds: np.ndarray  # [members] int32


def slice_members(tree, members: range):
    """Members `members` of every leaf with the population axis (all but the env-step counter)."""
    return jax.tree.map(lambda x: x[members.start : members.stop] if np.ndim(x) else x, tree)


def join_members(trees: list):
    """The inverse of slice_members over consecutive groups, as host arrays."""
    if len(trees) == 1:
        return trees[0]
    return jax.tree.map(lambda *xs: np.concatenate(xs) if np.ndim(xs[0]) else np.asarray(xs[0]), *jax.device_get(trees))


class Fleet:
    """The groups and their running states; `train_chunk` and the checkpoint views span them all."""

    def __init__(self, algorithm, static, config, population: Population, num_iterations: int, restarts: int):
        from jaxrl.envs import env_seeds, make_env

        devices = jax.local_devices()
        size = len(population.seeds)
        per_group = size // group_count(size, len(devices))
        self.groups: list[Group] = []
        try:
            for index, start in enumerate(range(0, size, per_group)):
                members = range(start, start + per_group)
                seeds = [population.seeds[m] for m in members]
                env = make_env(
                    config.env,
                    [s for seed in seeds for s in env_seeds(seed, static.num_envs, restarts)],
                    config.backend,
                    **config.env_options,
                )
                agent = algorithm.build(static, env.spec, num_iterations)
                runner = make_runner(agent, env, per_group, static.rollout_steps)
                hyper = jax.device_put(slice_members(population.hyper, members), devices[index])
                self.groups.append(
                    Group(members, devices[index], env, agent, runner, hyper, np.asarray(seeds, np.int32))
                )
        except BaseException:
            self.close()
            raise
        self.states, self.handles = [], []

    @property
    def agent(self):
        return self.groups[0].agent

    def init(self, saved: dict | None = None) -> None:
        """Fresh members, or (`saved`: a checkpoint's arrays) resumed ones on restarted envs."""
        for group in self.groups:
            with jax.default_device(group.device):
                state, handle = group.runner.init(group.seeds, group.hyper)
                if saved is not None:
                    state = resumed_state(state, jax.device_put(slice_members(saved, group.members), group.device))
            self.states.append(state)
            self.handles.append(jax.device_put(handle, group.device))

    def train_chunk(self, num_iterations: int) -> dict:
        """`num_iterations` rollouts and updates of every group, dispatched to every device before
        any is awaited; metrics [num_iterations, P]."""
        metrics = []
        for index, group in enumerate(self.groups):
            self.states[index], self.handles[index], group_metrics = group.runner.dispatch(
                self.states[index], self.handles[index], group.hyper, num_iterations
            )
            metrics.append(group_metrics)
        return host_metrics(metrics)

    def saved(self, with_replay: bool) -> dict:
        return join_members([saved_state(state, with_replay) for state in self.states])

    def diverged_at(self) -> np.ndarray:
        return np.concatenate([np.asarray(jax.device_get(state.diverged_at)) for state in self.states])

    def first_member_agent(self):
        """Member 0's agent state without its replay (videos need the networks only)."""
        return jax.tree.map(lambda x: x[0], drop_replay(self.states[0].agent))

    def close(self) -> None:
        for group in self.groups:
            group.env.close()
