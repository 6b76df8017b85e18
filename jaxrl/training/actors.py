"""The actors of the asynchronous actor-learner: threads that step their own EnvPool through its
host API (NumPy in, NumPy out: no XLA call, so no pool address in any compiled program) and act
with a jitted `Agent.act` on a parameter version the learner published.

The version an unroll acts with is fixed by its index alone, never by timing: unroll k acts with
version max(0, k - lag), the learner's parameters after k - lag updates (Cleanba's rule; with
lag 1 the actors collect unroll k while the learner learns from unroll k - 1). So the same seed
gives the same unrolls, and the same losses, however the threads are scheduled.
"""

import queue
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.core.episodes import EpisodeStats, init_stats, update_stats
from jaxrl.core.types import Agent, EnvSpec, Step, Trajectory
from jaxrl.envs.envpool import pool_options, quiet_gymnasium, registry_for
from jaxrl.envs.ids import is_atari_id

POLL_S = 0.1  # how often a blocked thread looks whether the run is stopping


class Stopped(Exception):
    """The run stopped while a thread waited."""


class Versions:
    """The parameter versions the learner has published, kept while an actor may still ask for them."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.versions: dict[int, Any] = {}
        self.changed = threading.Condition()

    def publish(self, version: int, agent, lag: int) -> None:
        """`agent` (leaves [P, ...]) as `version`. Every actor has finished the unrolls that came
        before the learner's last one, so versions older than `version - lag` are never asked again."""
        with self.changed:
            self.versions[version] = agent
            for old in [v for v in self.versions if v < version - lag]:
                del self.versions[old]
            self.changed.notify_all()

    def get(self, version: int):
        """The agent published as `version`, once it is; raises Stopped if the run stops first."""
        with self.changed:
            while version not in self.versions:
                if self.stop.is_set():
                    raise Stopped
                self.changed.wait(POLL_S)
            return self.versions[version]


def put(box: queue.Queue, item, stop: threading.Event) -> None:
    """`box.put(item)`, given up (Stopped) if the run stops while the queue is full."""
    while True:
        try:
            return box.put(item, timeout=POLL_S)
        except queue.Full:
            if stop.is_set():
                raise Stopped from None


def host_step(spec: EnvSpec, result) -> Step:
    """EnvPool's host `step` result as a Step of NumPy arrays: the same fields the XLA backend
    (`jaxrl.envs.envpool.make`) reads, from the same keys of `info`."""
    obs, reward, terminated, truncated, info = result
    reward, terminated, truncated = reward.astype(np.float32), terminated.astype(bool), truncated.astype(bool)
    if is_atari_id(spec.env_id):  # the unclipped reward, and the game's end rather than a lost life
        game_reward, game_over = info["reward"].astype(np.float32), info["terminated"].astype(bool) | truncated
    else:
        game_reward, game_over = reward, terminated | truncated
    return Step(obs.astype(spec.obs_dtype), reward, terminated, truncated, game_reward, game_over)


def make_pool(config, seeds: list[int], threads: int):
    quiet_gymnasium()
    return registry_for(config.env).make(
        config.env,
        env_type="gymnasium",
        num_envs=len(seeds),
        seed=list(seeds),
        num_threads=threads,
        **pool_options(config.env, **config.env_options),
    )


class Unroll(NamedTuple):
    index: int  # k: the unroll's place in its actor's sequence, and the learner update it feeds
    version: int  # the parameter version it acted with
    traj: Trajectory  # [T, e, ...], e: this actor's envs
    ended: Any  # EndedEpisodes [T, e]
    finished: float  # time.perf_counter() when its last step was received


@jax.jit
def episodes_over(stats: EpisodeStats, game_reward, game_over, counted):
    """An unroll's steps [T, e] added to the running episodes: (stats, EndedEpisodes [T, e])."""
    return jax.lax.scan(lambda carry, step: update_stats(carry, *step), stats, (game_reward, game_over, counted))


class Actor:
    """One thread of one member: its own pool of `len(seeds)` envs, unroll after unroll into `out`."""

    def __init__(self, config, agent: Agent, who: tuple[int, int, int], seeds: list[int], env_threads: int, device):
        """`who`: (member, its run seed, this thread's index among the member's); `seeds`: its envs'."""
        member, seed, thread = who
        self.device = device
        self.lag = config.static.lag
        self.steps = config.static.rollout_steps
        self.pool = make_pool(config, seeds, env_threads)
        self.num_envs = len(seeds)
        self.out: queue.Queue = queue.Queue(maxsize=1)  # bounded: an actor never runs far ahead
        self.error: BaseException | None = None
        # the actors' keys are their own: folded apart from the learner's (PRNGKey(seed) itself)
        base = jax.random.fold_in(jax.random.PRNGKey(seed), 1 + thread)

        def act(population_agent, obs, unroll: jax.Array, step: jax.Array):
            mine = jax.tree.map(lambda x: x[member], population_agent)
            return agent.act(mine, obs, jax.random.fold_in(jax.random.fold_in(base, unroll), step))

        self.act = jax.jit(act)
        self.thread: threading.Thread | None = None

    def start(self, spec: EnvSpec, versions: Versions, stop: threading.Event, delay: Callable | None) -> None:
        self.thread = threading.Thread(target=self.run, args=(spec, versions, stop, delay), daemon=True)
        self.thread.start()

    def run(self, spec: EnvSpec, versions: Versions, stop: threading.Event, delay: Callable | None) -> None:
        try:
            obs = np.asarray(self.pool.reset()[0], spec.obs_dtype)
            prev_done = np.zeros(self.num_envs, bool)
            stats = init_stats(self.num_envs)
            index = 0
            while not stop.is_set():
                version = max(0, index - self.lag)
                agent = jax.device_put(versions.get(version), self.device)
                unroll, obs, prev_done, stats = self.unroll(spec, agent, obs, prev_done, stats, index, delay)
                put(self.out, unroll._replace(version=version), stop)
                index += 1
        except Stopped:
            pass
        except BaseException as error:  # handed to the learner, which raises it in the run's thread
            self.error = error

    def unroll(self, spec: EnvSpec, agent, obs, prev_done, stats, index: int, delay: Callable | None):
        """T steps acted by `agent`: (Unroll, next obs, prev_done, episode stats)."""
        rows = []  # per step: obs, action, extras, Step, valid
        for step in range(self.steps):
            action, extras = self.act(agent, obs, index, step)
            if delay:
                time.sleep(delay())
            result = host_step(spec, self.pool.step(np.asarray(action)))
            rows.append((obs, action, extras, result, ~prev_done))  # a reset step ignores its action
            prev_done = result.terminated | result.truncated
            obs = result.obs
        observations, actions, extras, results, valid = zip(*rows, strict=True)
        steps = jax.tree.map(lambda *xs: np.stack(xs), *results)  # (reset_next: None, no leaf)
        valid = np.stack(valid)
        stats, ended = episodes_over(stats, steps.game_reward, steps.game_over, valid)
        traj = Trajectory(
            obs=np.stack(observations),
            action=jnp.stack(actions),
            reward=steps.reward,
            terminated=steps.terminated,
            truncated=steps.truncated,
            valid=valid,
            extras=jax.tree.map(lambda *xs: jnp.stack(xs), *extras),
            last_obs=obs,
        )
        return Unroll(index, -1, traj, ended, time.perf_counter()), obs, prev_done, stats

    def close(self) -> None:
        if self.thread is not None:
            self.thread.join()
        self.pool.close()
