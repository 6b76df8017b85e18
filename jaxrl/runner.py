"""The one training loop: a population of P runs (seeds x hyperparameter points), each with E
envs, trained in one jitted program. One EnvPool of P*E envs serves all members; every agent
function is vmapped over the population axis here and nowhere else (`init` is mapped member by
member, see `init_state`).
"""

import contextlib
import sys
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.algos import Agent, Trajectory
from jaxrl.envs import Env
from jaxrl.envs.stats import (
    EpisodeStats,
    RecentReturns,
    init_recent,
    init_stats,
    push_recent,
    recent_mean,
    update_stats,
)


@struct.dataclass
class RunnerState:
    agent: Any  # algorithm state, leaves [P, ...]
    obs: jax.Array  # [P, E, *obs_shape], the next observation each member acts on
    prev_done: jax.Array  # [P, E] bool: obs is terminal, so the next env step is EnvPool's reset step
    episodes: EpisodeStats  # [P, E]
    recent: RecentReturns  # [P, 20]: last finished episodes per member
    key: jax.Array  # [P, 2] uint32
    env_steps: jax.Array  # int32 scalar: env steps taken by each member so far
    diverged_at: jax.Array  # [P] int32: env step of the member's first non-finite update, -1 while healthy


class Runner(NamedTuple):
    init: Any  # (seeds [P], hyper [P]) -> (state, handle)
    collect: Any  # jitted: (state, handle) -> (state, handle, traj [T, P, E, ...], ended episodes [T, P, E])
    update: Any  # jitted: (state, traj, ended, hyper) -> (state, metrics [P])
    dispatch: Any  # (state, handle, hyper, num_iterations) -> (state, handle, [device metrics [P]])
    train_chunk: Any  # (state, handle, hyper, num_iterations) -> (state, handle, metrics [n, P])


def over_members(fn, population: int, in_axes=0):
    """`jax.vmap(fn, in_axes)` over the population axis; a population of one calls `fn` directly.

    Vmapping a convolution over batched weights turns it into a grouped convolution, which XLA's
    CPU backend runs about 100x slower than the plain one: single runs must not pay for that.
    """
    if population > 1:
        return jax.vmap(fn, in_axes=in_axes)

    def single_member(*args):
        axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
        members = [
            jax.tree.map(lambda axis, subtree: jax.tree.map(lambda x: jnp.squeeze(x, axis), subtree), axis_tree, arg)
            for axis_tree, arg in zip(axes, args, strict=True)
        ]
        return jax.tree.map(lambda x: jnp.expand_dims(x, 0), fn(*members))

    return single_member


# The networks and their optimizer state: what a divergence poisons. The rest (replay,
# counters) goes on.
NETWORK_FIELDS = ("params", "target_params", "opt_state")


def freeze_diverged(old_agent, new_agent, metrics: dict, diverged_at: jax.Array, env_steps: jax.Array):
    """Keeps the last finite networks of a member whose update produced a NaN or inf (in a loss
    or a parameter) and records the step; the other members are untouched, bit for bit.

    Returns (agent state, diverged_at [P]).
    """

    def finite_per_member(tree) -> jax.Array:  # leaves [P, ...] -> [P] bool
        leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
        return jnp.stack([jnp.isfinite(x.reshape(x.shape[0], -1)).all(axis=1) for x in leaves]).all(axis=0)

    learned = {name: getattr(new_agent, name) for name in NETWORK_FIELDS if hasattr(new_agent, name)}
    finite = finite_per_member((learned, metrics))
    diverged_at = jnp.where((diverged_at < 0) & ~finite, env_steps, diverged_at)
    keep_old = diverged_at >= 0

    def select(old, new):
        return jnp.where(keep_old.reshape(-1, *[1] * (new.ndim - 1)), old, new)

    frozen = {name: jax.tree.map(select, getattr(old_agent, name), tree) for name, tree in learned.items()}
    return new_agent.replace(**frozen), diverged_at


# What a checkpoint keeps: everything learned and counted. The env side (observations, episodes
# in progress) cannot be saved: EnvPool's state lives in C++, and a resume restarts it.
SAVED_FIELDS = ("agent", "recent", "key", "env_steps", "diverged_at")


def init_learning(agent: Agent, seeds: jax.Array, hyper) -> dict:
    """The learning part of a fresh RunnerState (SAVED_FIELDS), for members with these seeds."""
    keys = jax.vmap(jax.random.PRNGKey)(seeds)
    keys, init_keys = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
    return dict(
        # One member after another, not vmapped: jaxlib's batched QR (orthogonal init) shares
        # XLA's CPU thread pool with the kernels that wait on it and can deadlock on 2 cores
        # (reproduced: a vmapped init of 4 hangs within seconds of repeated calls).
        agent=jax.lax.map(lambda member: agent.init(*member), (init_keys, hyper)),
        recent=jax.vmap(lambda _: init_recent())(seeds),
        key=keys,
        env_steps=jnp.zeros((), jnp.int32),
        diverged_at=jnp.full(seeds.shape, -1, jnp.int32),
    )


def checkpoint_like(agent: Agent, seeds, hyper, with_replay: bool) -> dict:
    """The ShapeDtypeStructs of a checkpoint of this population, nothing computed."""
    return without_replay(
        jax.eval_shape(lambda s, h: init_learning(agent, s, h), jnp.asarray(seeds), hyper), with_replay
    )


def drop_replay(agent):
    """The agent state without its replay buffer (off-policy agents'); others as they are."""
    return agent.replace(replay=None) if hasattr(agent, "replay") else agent


def without_replay(learning: dict, with_replay: bool) -> dict:
    return learning if with_replay else dict(learning, agent=drop_replay(learning["agent"]))


def host_metrics(groups: list[list[dict]]) -> dict:
    """Per group of members, per iteration, device metrics {name: [members]} -> NumPy
    {name: [iterations, P]}, the groups side by side in member order."""
    groups = jax.device_get(groups)
    return {
        key: np.concatenate([np.stack([m[key] for m in group]) for group in groups], axis=1) for key in groups[0][0]
    }


def make_runner(agent: Agent, env: Env, population: int, rollout_steps: int) -> Runner:
    num_envs = env.num_envs // population

    def per_member(x):
        return x.reshape(population, num_envs, *x.shape[1:])

    def init_state(seeds: jax.Array, hyper, obs: jax.Array) -> RunnerState:
        return RunnerState(
            **init_learning(agent, seeds, hyper),
            obs=per_member(obs),
            prev_done=jnp.zeros((population, num_envs), bool),
            episodes=jax.vmap(lambda _: init_stats(num_envs))(seeds),
        )

    # jit may forward an input buffer straight into the output (an optimizer state holding the
    # learning rate, say); donating a private copy of `hyper` keeps the state free of aliases of
    # the arrays passed beside it to `collect` and `update`, which donate the state.
    init_state = jax.jit(init_state, donate_argnums=1)

    def init(seeds: jax.Array, hyper) -> tuple[RunnerState, Any]:
        handle, obs = env.reset()
        return init_state(jnp.asarray(seeds), jax.tree.map(jnp.copy, hyper), obs), handle

    def env_step(carry, _):
        state, handle = carry
        keys, act_keys = jnp.moveaxis(jax.vmap(jax.random.split)(state.key), 1, 0)
        action, extras = over_members(agent.act, population)(state.agent, state.obs, act_keys)  # [P, E]
        handle, step = env.step(handle, action.reshape(-1))
        step = jax.tree.map(per_member, step)
        valid = ~state.prev_done  # a reset step ignores its action: no transition to learn from
        episodes, ended = jax.vmap(update_stats)(state.episodes, step.game_reward, step.game_over, valid)
        transition = (state.obs, action, step.reward, step.terminated, step.truncated, valid, extras)
        state = state.replace(obs=step.obs, prev_done=step.terminated | step.truncated, episodes=episodes, key=keys)
        return (state, handle), (transition, ended)

    def collect(state: RunnerState, handle):
        """T env steps of every member. Holds EnvPool's XLA call, whose compiled form embeds the
        pool's address, so it is compiled afresh in each process: keep it small."""
        (state, handle), (transitions, ended) = jax.lax.scan(env_step, (state, handle), None, length=rollout_steps)
        obs, action, reward, terminated, truncated, valid, extras = transitions  # [T, P, E, ...]
        traj = Trajectory(obs, action, reward, terminated, truncated, valid, extras, last_obs=state.obs)
        return state, handle, traj, ended

    def update(state: RunnerState, traj: Trajectory, ended, hyper):
        """Every member learns from its rollout. Pure (no env), so JAX's persistent compilation
        cache serves it to later processes: the big compile is paid once per machine."""
        traj_axes = Trajectory(*([1] * 7), last_obs=0)  # time-major rollout: population is axis 1
        keys, learn_keys = jnp.moveaxis(jax.vmap(jax.random.split)(state.key), 1, 0)
        learn = over_members(agent.learn, population, in_axes=(0, traj_axes, 0, 0))
        agent_state, metrics = learn(state.agent, traj, hyper, learn_keys)
        env_steps = state.env_steps + rollout_steps * num_envs
        agent_state, diverged_at = freeze_diverged(state.agent, agent_state, metrics, state.diverged_at, env_steps)

        def member_major(x):  # [T, P, E] -> [P, T*E], time order kept
            return jnp.moveaxis(x, 1, 0).reshape(population, -1)

        recent = jax.vmap(push_recent)(state.recent, member_major(ended.ended), member_major(ended.episode_return))
        metrics = dict(
            metrics,
            episodes_ended=ended.ended.sum(axis=(0, 2)),
            episode_return_sum=ended.episode_return.sum(axis=(0, 2)),
            episode_length_sum=ended.episode_length.sum(axis=(0, 2)),
            recent_return=jax.vmap(recent_mean)(recent),
            env_steps=jnp.full((population,), env_steps),
            diverged_at=diverged_at,
        )
        state = state.replace(agent=agent_state, recent=recent, key=keys, env_steps=env_steps, diverged_at=diverged_at)
        return state, metrics

    collect = jax.jit(collect, donate_argnums=0)
    update = jax.jit(update, donate_argnums=0)

    def dispatch(state: RunnerState, handle, hyper, num_iterations: int):
        """`num_iterations` rollouts and updates, dispatched and not awaited: (state, handle,
        [metrics of each iteration, on the device])."""
        metrics = []
        for _ in range(num_iterations):
            state, handle, traj, ended = collect(state, handle)
            state, iteration_metrics = update(state, traj, ended, hyper)
            metrics.append(iteration_metrics)
        return state, handle, metrics

    def train_chunk(state: RunnerState, handle, hyper, num_iterations: int):
        """`num_iterations` rollouts and updates; one sync at the end. Returns the new state and
        handle and the metrics as NumPy arrays [num_iterations, P]."""
        state, handle, metrics = dispatch(state, handle, hyper, num_iterations)
        return state, handle, host_metrics([metrics])

    return Runner(init=init, collect=collect, update=update, dispatch=dispatch, train_chunk=train_chunk)


class Population(NamedTuple):
    seeds: list[int]  # [P]
    hyper: Any  # the algorithm's Hyper with [P] float32 leaves
    names: list[str]  # TensorBoard run names, one per member


def seed_population(algorithm, config) -> Population:
    """Every member shares the config's hyperparameters; members differ by seed."""
    seeds = config.run_seeds
    hyper = algorithm.Hyper(**{key: jnp.full((len(seeds),), value, jnp.float32) for key, value in config.hyper.items()})
    return Population(seeds, hyper, [f"s{seed}" for seed in seeds])


def target_reached(recent_return: np.ndarray, target: float | None) -> np.ndarray:
    """[n, P] -> [n, P] bool; NaN (no finished episode yet) never reaches a target."""
    if target is None:
        return np.zeros(recent_return.shape, bool)
    return np.nan_to_num(recent_return, nan=-np.inf) >= target


def saved_state(state: RunnerState, with_replay: bool) -> dict:
    """The part of the state a checkpoint holds (SAVED_FIELDS)."""
    return without_replay({name: getattr(state, name) for name in SAVED_FIELDS}, with_replay)


def resumed_state(fresh: RunnerState, saved: dict) -> RunnerState:
    """A fresh state, whose envs have just restarted, carrying a checkpoint's learning. A replay
    left out of the checkpoint is the fresh, empty one (learning waits until it refills); a saved
    one loses each env's last transition, whose next observation the restart discarded."""
    agent = saved["agent"]
    if hasattr(agent, "replay"):
        from jaxrl.buffers import drop_pending

        replay = fresh.agent.replay if agent.replay is None else jax.vmap(drop_pending)(agent.replay)
        agent = agent.replace(replay=replay)
    return fresh.replace(**dict(saved, agent=agent))


class Record(NamedTuple):
    """The loop's own progress, kept in each checkpoint beside the arrays (as JSON)."""

    iterations: int = 0  # rollouts and updates done
    env_steps: int = 0  # per member
    elapsed_s: float = 0.0  # wall-clock seconds of the run before this process, set-up included
    restarts: int = 0  # resumes so far: each restarts the envs with new seeds
    steps_to_target: tuple = ()  # per member, None until reached
    seconds_to_target: tuple = ()
    final_return: tuple = ()  # per member, None before the first finished episode

    def to_json(self) -> dict:
        return self._asdict()

    @classmethod
    def from_json(cls, data: dict) -> "Record":
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()})


class StopRequests:
    """SIGINT (Ctrl-C) and SIGTERM ask the loop to stop after the chunk it is running, write a
    checkpoint and return; a second signal interrupts at once (the checkpoints stay whole)."""

    def __init__(self):
        self.signal: str | None = None
        self.previous = {}

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.previous[signum] = signal.signal(signum, self.request)
        return self

    def request(self, signum, _frame) -> None:
        import signal

        self.signal = signal.Signals(signum).name
        signal.signal(signum, self.previous[signum])  # the next one is not deferred
        print(f"\njaxrl: {self.signal}: stopping after this chunk to write a checkpoint", file=sys.stderr)

    def __exit__(self, *_):
        import signal

        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


def capture_video(fleet, config, board, run_dir, name: str, env_steps: int) -> None:
    """A greedy game of the first member, into <run dir>/videos/ and its TensorBoard run."""
    from jaxrl.video import record_game, write_video

    frames, fps, _ = record_game(
        fleet.agent, fleet.first_member_agent(), config.env, env_steps, False, **config.env_options
    )
    (run_dir / "videos").mkdir(exist_ok=True)
    write_video(frames, fps, run_dir / "videos" / f"{name}-step{env_steps}")
    board.log_video(0, frames, fps, env_steps)


def population_of(algorithm, config) -> Population:
    """The population a config describes: a sweep's points x seeds, else its seeds."""
    if config.sweep:
        from jaxrl.sweep import sweep_population

        return sweep_population(algorithm.Hyper, config.hyper, config.sweep["points"], config.run_seeds)
    return seed_population(algorithm, config)


class Scoreboard:
    """Per member of this process: the env step and second at which the mean of its last 20
    episodes first reached the target, that mean now (its final return), and the env step at
    which it diverged (-1: never)."""

    def __init__(self, record: "Record", members: slice, diverged_at: np.ndarray, target: float | None):
        self.steps_to_target = list(record.steps_to_target[members])
        self.seconds_to_target = list(record.seconds_to_target[members])
        self.final_return = np.array([np.nan if r is None else r for r in record.final_return[members]], float)
        self.diverged_at, self.target = diverged_at, target

    def update(self, metrics: dict, seconds_at) -> None:
        """One chunk's metrics [n, P]; `seconds_at(i)`: the run's clock at the chunk's i-th iteration."""
        reached = target_reached(metrics["recent_return"], self.target)
        for member, steps in enumerate(self.steps_to_target):
            hits = np.flatnonzero(reached[:, member])
            if steps is None and hits.size:
                self.steps_to_target[member] = int(metrics["env_steps"][hits[0], member])
                self.seconds_to_target[member] = round(seconds_at(hits[0]), 3)
        self.final_return = metrics["recent_return"][-1]
        self.diverged_at = metrics["diverged_at"][-1]

    def finished(self) -> bool:
        """Nothing left to learn for any member: frozen after diverging, or at the target."""
        done = self.diverged_at >= 0
        if self.target is not None:
            done |= np.array([steps is not None for steps in self.steps_to_target])
        return bool(done.all())

    def rows(self) -> np.ndarray:
        """[members, 4]: steps and seconds to target, final return, diverged at (-1 / NaN for
        none), the form the processes of a distributed run exchange."""
        columns = (
            [-1 if s is None else s for s in self.steps_to_target],
            [np.nan if s is None else s for s in self.seconds_to_target],
            self.final_return,
            self.diverged_at,
        )
        return np.stack([np.asarray(column, float) for column in columns], axis=1)


def optional(value: float, kind=float):
    """A row's entry as JSON: -1 (steps, steps diverged) or NaN (seconds, returns) is None."""
    return None if np.isnan(value) or value < 0 and kind is int else kind(value)


def open_run_dir(config, peers):
    """A new run dir with config.json; with several processes, process 0 makes it (all of them
    must see the same one, so it is never renamed: an existing one is an error)."""
    from pathlib import Path

    from jaxrl.logging import new_run_dir, write_json

    if peers.count == 1:
        run_dir = new_run_dir(config.logdir, config.env, config.algo, config.name)
    else:
        run_dir = Path(config.logdir) / config.env / config.algo / config.name
        if run_dir.exists():
            from jaxrl.config import ConfigError

            raise ConfigError(f"--distributed: {run_dir} exists; name the run afresh with --name")
        peers.barrier("run dir checked")  # before process 0 makes it
        if peers.index == 0:
            run_dir.mkdir(parents=True)
    if peers.index == 0:
        write_json(run_dir / "config.json", config.to_json())
    peers.barrier("run dir made")
    return run_dir


def train(
    config, population: Population | None = None, quiet: bool = False, resume=None, should_stop=None, peers=None
) -> dict:
    """Trains the population described by `config` and writes everything under its run dir.

    `resume`: a run dir to continue from its latest checkpoint (its config.json is `config`).
    `should_stop(env_steps)`: asked after every chunk, like a signal, whether to stop now.
    `peers`: the processes of a distributed run (jaxrl.distributed); each trains its share.
    Returns the summary (also written to summary.json); "interrupted_by" names what stopped it early.
    """
    from pathlib import Path

    from jaxrl import checkpoints
    from jaxrl.algos import get_algorithm
    from jaxrl.distributed import Peers
    from jaxrl.fleet import Fleet
    from jaxrl.logging import Progress, TensorBoard, write_json

    start = time.perf_counter()
    peers = peers or Peers()
    algorithm = get_algorithm(config.algo)
    static = algorithm.Static(**config.static)
    everyone = population or population_of(algorithm, config)
    mine = peers.members(len(everyone.seeds))
    population = Population(everyone.seeds[mine], jax.tree.map(lambda x: x[mine], everyone.hyper), everyone.names[mine])
    size = len(population.seeds)
    steps_per_iteration = static.num_envs * static.rollout_steps
    num_iterations = config.total_steps // steps_per_iteration
    chunk = max(1, min(num_iterations, config.log_every // steps_per_iteration))
    quiet = quiet or peers.index > 0  # one process speaks for the run

    if resume is None:
        run_dir = open_run_dir(config, peers)
        unset = (None,) * len(everyone.seeds)
        record = Record(steps_to_target=unset, seconds_to_target=unset, final_return=unset)
    else:
        run_dir = Path(resume)
        step = checkpoints.latest_step(run_dir)
        record = Record.from_json(checkpoints.restore_record(run_dir, step))
        record = record._replace(restarts=record.restarts + 1)
    if num_iterations * steps_per_iteration != config.total_steps and not quiet and resume is None:
        print(
            f"training {num_iterations * steps_per_iteration:,} env steps per member "
            f"(whole rollouts of {steps_per_iteration})",
            file=sys.stderr,
        )

    with contextlib.ExitStack() as cleanup:  # closes whatever was opened, however this ends
        fleet = Fleet(algorithm, static, config, population, num_iterations, record.restarts)
        cleanup.callback(fleet.close)
        if len(fleet.groups) > 1 and not quiet:
            devices = ", ".join(str(group.device) for group in fleet.groups)
            print(
                f"{size} members over {len(fleet.groups)} devices ({devices}), {size // len(fleet.groups)} each",
                file=sys.stderr,
            )
        if resume is None:
            fleet.init()
        else:  # read before anything compiles: a checkpoint that does not fit fails fast
            like = checkpoint_like(fleet.agent, population.seeds, population.hyper, config.checkpoint_replay)
            fleet.init(peers.to_local(checkpoints.restore_state(run_dir, peers.to_global(like), step)))
            if not quiet:
                refills = not config.checkpoint_replay and hasattr(fleet.states[0].agent, "replay")
                note = "; the replay was not checkpointed: learning waits until it refills" if refills else ""
                print(f"resuming {run_dir} at env step {step:,}{note}", file=sys.stderr)

        board = TensorBoard(
            run_dir,
            population.names,
            {"env": config.env, **config.static, **config.hyper},
            resume_step=None if resume is None else record.env_steps,
        )
        cleanup.callback(board.close)
        saver = checkpoints.Checkpointer(run_dir, config.keep_checkpoints, config.checkpoint_every, record.env_steps)
        cleanup.callback(saver.close)
        progress = None
        if not quiet:
            progress = Progress(num_iterations * steps_per_iteration, len(everyone.seeds), record.env_steps)
            cleanup.callback(progress.close)

        member_hparams = [  # float32 values as their shortest decimal: 0.98, not 0.9800000190734863
            {
                **{key: float(str(np.asarray(value)[member])) for key, value in vars(everyone.hyper).items()},
                "seed": seed,
            }
            for member, seed in enumerate(everyone.seeds)
        ]
        scores = Scoreboard(record, mine, fleet.diverged_at(), config.target_return)
        env_steps, done_iterations = record.env_steps, record.iterations
        start -= record.elapsed_s  # times continue from where the stopped run left them
        interrupted_by, trained = None, False

        def checkpoint() -> None:
            board.flush()  # logs first: a checkpoint never gets ahead of them, so a resume leaves no gap
            steps, seconds, finals, _ = peers.gather(scores.rows()).T  # every member's, from every process
            host = Record(
                done_iterations,
                env_steps,
                round(time.perf_counter() - start, 3),
                record.restarts,
                tuple(optional(s, int) for s in steps),
                tuple(optional(s) for s in seconds),
                tuple(optional(r) for r in finals),
            )
            saver.save(env_steps, peers.to_global(fleet.saved(config.checkpoint_replay)), host.to_json())

        with StopRequests() as stop:
            all_finished = peers.agree(None, scores.finished(), False)[1]
            while done_iterations < num_iterations and not all_finished:
                n = min(chunk, num_iterations - done_iterations)
                chunk_start = time.perf_counter()
                metrics = fleet.train_chunk(n)
                now, trained = time.perf_counter(), True
                done_iterations += n
                env_steps = int(metrics["env_steps"][-1, 0])
                # the chunk ran as one program: place an iteration by its share of the chunk's time
                scores.update(metrics, lambda i: chunk_start - start + (now - chunk_start) * (i + 1) / n)  # noqa: B023
                board.log_chunk(metrics, now - start)
                if progress:
                    progress.update(env_steps, scores.final_return)
                requested = "request" if should_stop is not None and should_stop(env_steps) else None
                stop_asked, all_finished, due = peers.agree(
                    stop.signal or requested, scores.finished(), saver.due(env_steps)
                )
                unfinished = done_iterations < num_iterations and not all_finished
                if stop_asked and unfinished:  # (asked for as the last chunk ended, it changes nothing)
                    interrupted_by = stop_asked
                    break
                every = config.capture_video
                if every and peers.index == 0 and env_steps // every > (env_steps - n * steps_per_iteration) // every:
                    capture_video(fleet, config, board, run_dir, population.names[0], env_steps)
                if due and unfinished:  # else the final checkpoint follows at once
                    checkpoint()
            if trained and not interrupted_by:  # once, when the run completes (not again on resuming a complete run)
                board.log_hparams(member_hparams[mine], scores.final_return, env_steps)
            checkpoint()

    steps, seconds, finals, diverged = peers.gather(scores.rows()).T
    summary = {
        "algo": config.algo,
        "env": config.env,
        "total_steps": num_iterations * steps_per_iteration,
        "wall_s": round(time.perf_counter() - start, 3),
        "run_dir": str(run_dir),
        "interrupted_by": interrupted_by,
        "runs": [
            {
                "run": everyone.names[member],
                "seed": everyone.seeds[member],
                "hyper": {key: value for key, value in member_hparams[member].items() if key != "seed"},
                "final_return": optional(finals[member]),
                "diverged_at_step": optional(diverged[member], int),
                "env_steps": env_steps,
                "steps_to_target": optional(steps[member], int),
                "seconds_to_target": optional(seconds[member]),
            }
            for member in range(len(everyone.seeds))
        ],
    }
    if peers.index == 0:
        write_json(run_dir / "summary.json", summary)
    return summary
