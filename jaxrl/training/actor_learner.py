"""The asynchronous actor-learner (IMPALA, `--lag` >= 1): actor threads step EnvPool and act while
the learner learns; the loop sees it through the same methods as the synchronous `Fleet`
(`init`, `train_chunk`, `saved`, ...), so the session only chooses which one to build
(`runner_for`).

Each member of the population has `actor_threads` actors (`jaxrl.training.actors`), each with
its own pool of num_envs / actor_threads envs. Learner update k takes unroll k from every actor
of every member (the members' envs side by side, as the synchronous loop's rollout holds them)
and runs the synchronous loop's own `update` program on it: the members vmapped in one program,
the NaN guard, the episode records, the same metrics. It then publishes its parameters as
version k + 1, which unroll k + 1 + lag acts with.

Under `--distributed` the processes split the data, not the members (`DataParallel`): each runs
actors for every member on its share of the envs, and the learner devices of all processes are
one mesh, so the update averages gradients across processes and all hold the same parameters.

A checkpoint holds what the synchronous loop's does; a resume restarts the envs at an unroll
boundary (EnvPool's state lives in C++) and the actors start again from the restored parameters
as version 0: the resumed run is not bit-identical to an uninterrupted one.
"""

import functools
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.algos import get_algorithm
from jaxrl.config import RunConfig, flag
from jaxrl.core.programs import make_programs
from jaxrl.core.types import Agent, Env, Trajectory
from jaxrl.envs import env_seeds
from jaxrl.errors import ConfigError
from jaxrl.training.actors import POLL_S, Actor, Unroll, Versions
from jaxrl.training.assembly import num_iterations
from jaxrl.training.checkpoints import drop_replay, resumed_state, saved_state
from jaxrl.training.distributed import DataParallel, Peers, Processes
from jaxrl.training.fleet import Fleet, host_metrics
from jaxrl.training.population import Population


def asynchronous(config: RunConfig) -> bool:
    """Whether the run's actors lag its learner (an algorithm with a `lag`, set above 0)."""
    return getattr(config.static, "lag", 0) > 0


def peers_for(config: RunConfig, peers: Peers) -> Peers:
    """The processes of `config`'s run as its runner sees them: the actor-learner's split the data
    (`DataParallel`), the synchronous loop's the members."""
    return DataParallel(peers) if asynchronous(config) and isinstance(peers, Processes) else peers


def check_devices(config: RunConfig, processes: int = 1) -> None:
    """--actor-devices and --learner-devices name local devices, and the learner's (of every
    process) and the actor threads (of every process) split the envs evenly."""
    count = len(jax.local_devices())
    for name in ("actor_devices", "learner_devices"):
        missing = [index for index in getattr(config.static, name, ()) if index >= count]
        if missing:
            raise ConfigError(
                f"invalid {flag(name)} {' '.join(map(str, getattr(config.static, name)))}: there is no device {missing[0]} "
                f"(this process has {count}: {', '.join(str(d) for d in jax.local_devices())})"
            )
    envs = getattr(config.static, "num_envs", 0)
    across = f" of each of the {processes} processes" if processes > 1 else ""
    for name in ("learner_devices", "actor_threads"):
        value = getattr(config.static, name, ())
        count = (len(value) or 1) if name == "learner_devices" else value
        if envs % (count * processes):
            raise ConfigError(f"--num-envs {envs} does not split evenly over the {count} {flag(name)}{across}")


def runner_for(config: RunConfig, peers: Peers | None = None) -> Callable:
    """What builds the fleet that trains `config`'s population (this process's of `peers`):
    ActorLearner or the synchronous Fleet. Refuses, in one line and before anything is built,
    what the actor-learner cannot run."""
    if not asynchronous(config):
        return Fleet
    peers = peers or Peers()
    check_devices(config, peers.count)
    if config.backend != "envpool":
        fused = "use ppo" if config.algo == "impala" else "use --lag 0"
        hint = fused if config.backend == "gymnax" else "use EnvPool's id of the env, or --lag 0"
        raise ConfigError(
            f"{config.algo} --lag {config.static.lag} steps EnvPool in actor threads; {config.env} runs on "
            f"{config.backend}"
            + (": the fused loop has nothing to overlap, " if config.backend == "gymnax" else ": ")
            + hint
        )
    if config.pbt:
        raise ConfigError(f"{config.algo} --lag {config.static.lag}: PBT runs on the synchronous loop (--lag 0)")
    return functools.partial(ActorLearner, peers=peers)


class MemberGroup(NamedTuple):
    """What the session reads of Fleet's groups: the actor-learner has one group of members (its
    learner devices split the envs, not the members), on the first learner device."""

    device: Any


def local_devices(indices: tuple[int, ...]) -> list:
    """The local devices of `indices`; none given: the first."""
    return [jax.local_devices()[index] for index in indices or (0,)]


class Placement(NamedTuple):
    """Where the learner's arrays live: its state replicated on every learner device, the unrolls
    split along the env axis, so XLA averages the gradients over the devices (one device: all on it)."""

    state: Any  # sharding of the state and hyperparameters
    steps: Any  # of [T, P, E, ...] leaves
    last: Any  # of [P, E, ...] leaves

    @staticmethod
    def over(devices: list) -> "Placement":
        mesh = jax.sharding.Mesh(np.asarray(devices), ("env",))
        spec = jax.sharding.PartitionSpec
        named = jax.sharding.NamedSharding
        return Placement(named(mesh, spec()), named(mesh, spec(None, None, "env")), named(mesh, spec(None, "env")))


def place(tree, sharding):
    """`jax.device_put`, also onto a mesh over several processes, each giving its own part."""
    if sharding.is_fully_addressable:
        return jax.device_put(tree, sharding)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree)


def local_copy(tree):
    """A copy, on this process's device, of arrays that may be replicated over several processes
    (what the actors act with, and what the session reads of one member)."""
    return jax.tree.map(lambda x: jnp.copy(x if x.is_fully_addressable else x.addressable_data(0)), tree)


def no_env_step(*_):
    raise RuntimeError("the actor-learner's envs are stepped by its actors, never by a compiled program")


def join_unrolls(unrolls: list[list[Unroll]]) -> tuple[Trajectory, Any]:
    """Per member, its actors' unrolls -> (traj [T, P, E, ...], ended [T, P, E]): an actor's envs
    follow the one before it's, as one pool's would."""

    def members(*leaves, env_axis: int):  # leaves [member][thread] -> member axis after the env's
        per_member = [np.concatenate(leaves[i : i + threads], axis=env_axis) for i in range(0, len(leaves), threads)]
        return np.stack(per_member, axis=env_axis)

    threads = len(unrolls[0])
    flat = [unroll for member in unrolls for unroll in member]
    steps = [unroll.traj._replace(last_obs=None) for unroll in flat]  # time-major leaves
    traj = jax.tree.map(lambda *xs: members(*jax.device_get(xs), env_axis=1), *steps)
    last_obs = members(*[unroll.traj.last_obs for unroll in flat], env_axis=0)
    ended = jax.tree.map(lambda *xs: members(*jax.device_get(xs), env_axis=1), *[unroll.ended for unroll in flat])
    return traj._replace(last_obs=last_obs), ended


class ActorLearner:
    """The learner, its published versions and its actors; `train_chunk` and the checkpoint views
    as `Fleet`'s. `delay()`: seconds an actor sleeps after each act (tests slow actors with it);
    `peers`: the run's processes (`DataParallel`: this one steps its share of the envs)."""

    def __init__(
        self,
        config: RunConfig,
        population: Population,
        restarts: int,
        delay: Callable | None = None,
        peers: Peers | None = None,
    ):
        self.algorithm = get_algorithm(config.algo)
        static = config.static
        self.spec = config.spec
        self.agent: Agent = self.algorithm.build(static, self.spec, num_iterations(config, static))
        self.config, self.static, self.delay = config, static, delay
        self.seeds = np.asarray(population.seeds, np.int32)
        size, envs = len(population.seeds), static.num_envs
        # only `update` is ever run: the envs are the actors', outside any program
        stand_in = Env(self.spec, size * envs, reset=no_env_step, step=no_env_step, close=lambda: None)
        self.programs = make_programs(self.agent, stand_in, size, static.rollout_steps, self.algorithm.networks)
        learners, peers = local_devices(static.learner_devices), peers or Peers()
        self.placement = Placement.over(peers.devices(learners))
        self.hyper = place(population.hyper, self.placement.state)
        self.groups = [MemberGroup(learners[0])]
        self.stop = threading.Event()
        self.versions = Versions(self.stop)
        self.actors: list[list[Actor]] = []
        share = peers.envs(envs)  # this process's envs of each member
        per_thread = (share.stop - share.start) // static.actor_threads
        first_thread = peers.index * static.actor_threads  # its threads' keys: the one-process run's
        pools = size * static.actor_threads
        env_threads = max(1, (config.env_threads or os.cpu_count() or 1) // pools)
        actor_devices = local_devices(static.actor_devices)
        try:
            for member, seed in enumerate(population.seeds):
                seeds = env_seeds(seed, envs, restarts)[share]
                self.actors.append(
                    [
                        Actor(
                            config,
                            self.agent,
                            (member, seed, first_thread + j),
                            seeds[j * per_thread : (j + 1) * per_thread],
                            env_threads,
                            actor_devices[(member * static.actor_threads + j) % len(actor_devices)],
                        )
                        for j in range(static.actor_threads)
                    ]
                )
        except BaseException:
            self.close()
            raise
        self.state: Any = None
        self.update_index = 0  # the next unroll the learner takes
        self.first: tuple[list[list[Unroll]], float] | None = None

    def init(self, saved: dict | None = None, read_replay=None, compiled=None) -> None:
        """Fresh members, or a checkpoint's (`saved`), published as version 0; the actors start.
        `compiled({"update": ...}, state_made=True)`, if given: the memory check, with the update
        compiled on the actors' first unrolls (kept for the first update). (`read_replay`:
        Fleet's, for replay algorithms; IMPALA keeps none.)"""
        obs = jnp.zeros((len(self.seeds) * self.static.num_envs, *self.spec.obs_shape), self.spec.obs_dtype)
        state = self.programs.start(self.seeds, self.hyper, obs)
        if saved is not None:
            state = resumed_state(self.algorithm, state, jax.device_put(saved), None)
        self.state = place(state, self.placement.state)
        self.versions.publish(0, local_copy(self.state.agent), self.static.lag)
        for member in self.actors:
            for actor in member:
                actor.start(self.spec, self.versions, self.stop, self.delay)
        if compiled:
            self.first = self.next_unrolls()
            traj, ended = self.placed(self.first[0])
            compiled({"update": self.programs.update.lower(self.state, traj, ended, self.hyper).compile()}, True)
        self.last_finished = time.perf_counter()  # when the unrolls before the next chunk's were done

    def next_unrolls(self) -> tuple[list[list[Unroll]], float]:
        """Unroll `update_index` of every actor, and the seconds the learner waited for them."""
        if self.first is not None:  # taken by `init` for the compiled-memory check
            first, self.first = self.first, None
            return first
        start = time.perf_counter()
        unrolls = [[self.take(actor) for actor in member] for member in self.actors]
        return unrolls, time.perf_counter() - start

    def placed(self, unrolls: list[list[Unroll]]) -> tuple[Trajectory, Any]:
        """The unrolls joined and placed as the learner's update takes them."""
        traj, ended = join_unrolls(unrolls)
        steps = place(traj._replace(last_obs=None), self.placement.steps)
        return steps._replace(last_obs=place(traj.last_obs, self.placement.last)), place(ended, self.placement.steps)

    def take(self, actor: Actor) -> Unroll:
        while True:
            if actor.error is not None:
                raise actor.error
            try:
                unroll = actor.out.get(timeout=POLL_S)
            except queue.Empty:
                continue
            assert unroll.index == self.update_index, "each actor hands its unrolls over in order"
            return unroll

    def train_chunk(self, num_iterations: int) -> dict:
        """`num_iterations` learner updates, each on the actors' next unrolls; metrics
        [num_iterations, P], with charts/actor_lag (versions), charts/queue_wait_s (the learner's
        wait for its unrolls) and charts/frames_per_s (the actors' env steps per second, all
        members together, from the end of the unrolls before the chunk's to the end of its last)."""
        size = len(self.seeds)
        rows = []
        for _ in range(num_iterations):
            unrolls, waited = self.next_unrolls()
            traj, ended = self.placed(unrolls)
            self.state, metrics = self.programs.update(self.state, traj, ended, self.hyper)
            self.update_index += 1
            self.versions.publish(self.update_index, local_copy(self.state.agent), self.static.lag)
            lag = self.update_index - 1 - unrolls[0][0].version
            rows.append(
                dict(
                    local_copy(metrics),
                    **{"charts/actor_lag": np.full(size, lag), "charts/queue_wait_s": np.full(size, waited)},
                )
            )
        metrics = host_metrics([rows])
        steps = num_iterations * self.static.rollout_steps * self.static.num_envs * size
        finished = max(unroll.finished for member in unrolls for unroll in member)
        rate = steps / max(finished - self.last_finished, 1e-9)
        self.last_finished = finished
        metrics["charts/frames_per_s"] = np.full((num_iterations, size), rate)
        return metrics

    def saved(self) -> dict:
        return jax.device_get(local_copy(saved_state(self.algorithm, self.state)))

    def env_like(self) -> dict:
        return {}  # EnvPool's envs restart on a resume: the checkpoint keeps no env side

    def replays(self) -> list:
        return []

    def diverged_at(self) -> np.ndarray:
        return np.asarray(jax.device_get(local_copy(self.state.diverged_at)))

    def first_member_agent(self):
        return jax.tree.map(lambda x: x[0], local_copy(drop_replay(self.algorithm, self.state.agent)))

    def close(self) -> None:
        self.stop.set()
        for member in self.actors:
            for actor in member:
                actor.close()
