"""The training session: opens (or resumes) a run dir, builds the population on every local
device, runs the loop chunk by chunk, reports each chunk to the loggers it is given, checkpoints,
stops on request, and writes summary.json. All the host I/O of a run lives here and below; the
programs it runs are the core's."""

import contextlib
import dataclasses
import time
from pathlib import Path

import numpy as np

from jaxrl.algos import get_algorithm
from jaxrl.config import RunConfig
from jaxrl.errors import ConfigError
from jaxrl.logs.base import Loggers, RunInfo
from jaxrl.logs.files import write_json
from jaxrl.logs.video import write_video
from jaxrl.search import PBT_IN_ONE_PROCESS
from jaxrl.training import checkpoints, memory
from jaxrl.training.actor_learner import runner_for
from jaxrl.training.assembly import num_iterations as iterations_of
from jaxrl.training.compile_times import CompileTimes
from jaxrl.training.distributed import Peers
from jaxrl.training.evaluation import record
from jaxrl.training.fleet import Fleet
from jaxrl.training.pbt import Tuner
from jaxrl.training.population import Population, member_hparams, members_slice, population_of
from jaxrl.training.rundir import open_run_dir
from jaxrl.training.scoreboard import Record, Scoreboard, optional
from jaxrl.training.stopping import StopRequests


def capture_video(fleet: Fleet, config: RunConfig, loggers: Loggers, run_dir: Path, name: str, env_steps: int):
    """A greedy game of the first member, into <run dir>/videos/ and the loggers."""
    frames, fps, _ = record(fleet.agent, fleet.first_member_agent(), config, env_steps, False)
    (run_dir / "videos").mkdir(exist_ok=True)
    write_video(frames, fps, run_dir / "videos" / f"{name}-step{env_steps}")
    loggers.log_video(0, frames, fps, env_steps)


def compile_metrics(seconds: dict[str, float], shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """time/compile/<program> metrics [iterations, members] (`shape`) of a chunk: the seconds each
    program compiled before and during it, at its first iteration (NaN, not logged, elsewhere)."""
    metrics = {}
    for program, value in seconds.items():
        column = np.full(shape, np.nan)
        column[0] = value
        metrics[f"time/compile/{program}"] = column
    return metrics


PBT_SUMMARY = ("population", "ready_every", "truncation", "resample_probability", "copy_replay", "ranges")


def train(
    config: RunConfig,
    loggers: list | None = None,
    population: Population | None = None,
    resume: Path | str | None = None,
    should_stop=None,
    peers: Peers | None = None,
    force: bool = False,
) -> dict:
    """Trains the population described by `config` and writes everything under its run dir.

    `loggers`: the sinks each chunk is reported to (TensorBoard, progress, W&B; none: nothing is
    logged but the run's JSON files and checkpoints). `resume`: a run dir to continue from its
    latest checkpoint (its config.json is `config`). `should_stop(env_steps)`: asked after every
    chunk, like a signal, whether to stop now. `peers`: the processes of a distributed run
    (jaxrl.training.distributed); each trains its share. `force`: train even where the memory
    estimate exceeds what is free (else ConfigError, before anything is allocated).
    Returns the summary (also written to summary.json); "interrupted_by" names what stopped it early.
    """
    # from the first moment: a signal while the programs compile stops the run once they have
    with StopRequests() as stop, CompileTimes() as compiles:
        return session(config, loggers, population, resume, should_stop, peers, force, stop, compiles)


def session(
    config: RunConfig,
    loggers: list | None,
    population: Population | None,
    resume: Path | str | None,
    should_stop,
    peers: Peers | None,
    force: bool,
    stop: StopRequests,
    compiles: CompileTimes,
) -> dict:
    """`train`'s body: `stop` holds the signal that asks it to stop, `compiles` the seconds spent
    compiling."""
    start = time.perf_counter()
    peers = peers or Peers()
    if config.pbt and peers.count > 1:
        raise ConfigError(PBT_IN_ONE_PROCESS)
    algorithm = get_algorithm(config.algo)
    static = algorithm.Static(**config.static)
    runner = runner_for(config)  # Fleet, or the actor-learner where actors lag (refused here if it cannot run)
    everyone = population or population_of(algorithm, config)
    mine = peers.members(len(everyone.seeds))
    population = members_slice(everyone, mine)
    need = memory.estimate(algorithm, config, population)
    memory.check_fits(need, force)
    if resume is None:
        config = dataclasses.replace(config, memory=need.to_json())  # config.json records it
    steps_per_iteration = static.num_envs * static.rollout_steps
    num_iterations = iterations_of(config, static)
    chunk = max(1, min(num_iterations, config.log_every // steps_per_iteration))
    ready_iterations = None  # PBT: its ready points, every this many iterations, end chunks
    if config.pbt:
        ready_iterations = max(1, config.pbt["ready_every"] // steps_per_iteration)
        chunk = min(chunk, ready_iterations)
    notes = []  # told to the loggers once they are open

    unset = (None,) * len(everyone.seeds)
    record = Record(steps_to_target=unset, seconds_to_target=unset, final_return=unset)
    step = None  # the checkpoint a resumed run continues from
    if resume is None:
        run_dir = open_run_dir(config, peers)
    else:
        run_dir = Path(resume)
        if peers.index == 0:  # (a distributed run's checkpoints are one folder that all processes share)
            for cut in checkpoints.remove_unfinished(run_dir):
                notes.append(f"removed the checkpoint at env step {cut:,} that a kill cut short")
        peers.barrier("unfinished checkpoints removed")
        step = checkpoints.complete_step(run_dir)
        if step is None:  # stopped before its first checkpoint: the run starts again, as it began
            notes.append(f"{run_dir} has no checkpoint yet: training it from the start")
        else:
            record = Record.from_json(checkpoints.restore_record(run_dir, step))
            record = record._replace(restarts=record.restarts + 1)
    if num_iterations * steps_per_iteration != config.total_steps and resume is None:
        notes.append(
            f"training {num_iterations * steps_per_iteration:,} env steps per member "
            f"(whole rollouts of {steps_per_iteration})"
        )

    with contextlib.ExitStack() as cleanup:  # closes whatever was opened, however this ends
        fleet = runner(config, population, record.restarts)
        cleanup.callback(fleet.close)
        if len(fleet.groups) > 1:
            devices = ", ".join(str(group.device) for group in fleet.groups)
            size = len(population.seeds)
            notes.append(
                f"{size} members over {len(fleet.groups)} devices ({devices}), {size // len(fleet.groups)} each"
            )
        tuner = None
        if config.pbt:  # (resumed: the values, lineage and generator where the checkpoint left them)
            initial = {name: np.asarray(values) for name, values in vars(everyone.hyper).items()}
            tuner = Tuner(config.pbt, initial, config.seed, record.tuner)
            fleet.set_hyper(tuner.hyper)
        compiled_memory = {}  # summary.json's "memory": the estimate from the compiled programs

        def check_compiled(programs: dict, state_made: bool) -> None:  # before a big state is allocated
            after, compiled_memory["compiled"] = memory.compiled_estimate(need, programs, state_made)
            memory.check_fits(after, force, runtime="compiled programs and runtime")

        if step is None:
            fleet.init(compiled=check_compiled)
        else:  # read before anything compiles: a checkpoint that does not fit fails fast
            like = checkpoints.checkpoint_like(algorithm, fleet.agent, population.seeds, population.hyper)
            like.update(fleet.env_like())  # a JAX env's states, kept by its checkpoints
            saved = peers.to_local(checkpoints.restore_state(run_dir, peers.to_global(like), step))

            def read_replay(members: range, into):  # this process's members -> the population's
                whole = range(mine.start + members.start, mine.start + members.stop)
                return checkpoints.restore_replay(run_dir, step, into, whole)

            fleet.init(saved, read_replay if config.checkpoint_replay and algorithm.replay else None, check_compiled)
            refills = not config.checkpoint_replay and algorithm.replay is not None
            note = "; the replay was not checkpointed: learning waits until it refills" if refills else ""
            notes.append(f"resuming {run_dir} at env step {step:,}{note}")

        log = Loggers(loggers or [])
        cleanup.callback(log.close)
        log.open(
            RunInfo(
                run_dir=run_dir,
                names=population.names,
                settings={"env": config.env, **config.static, **config.hyper},
                config=config.to_json(),
                resume_step=None if resume is None else record.env_steps,  # 0: cut back to the start
                total_steps=num_iterations * steps_per_iteration,
                population=len(everyone.seeds),
                primary=peers.index == 0,
            )
        )
        for note in notes:
            log.note(note)
        saver = checkpoints.Checkpointer(run_dir, config.keep_checkpoints, config.checkpoint_every, record.env_steps)
        cleanup.callback(saver.close)

        hparams = member_hparams(everyone)
        scores = Scoreboard(record, mine, fleet.diverged_at(), config.target_return)
        env_steps, done_iterations = record.env_steps, record.iterations
        start -= record.elapsed_s  # times continue from where the stopped run left them
        interrupted_by, trained = None, False

        def checkpoint() -> None:
            log.flush()  # logs first: a checkpoint never gets ahead of them, so a resume leaves no gap
            steps, seconds, finals, _ = peers.gather(scores.rows()).T  # every member's, from every process
            host = Record(
                done_iterations,
                env_steps,
                round(time.perf_counter() - start, 3),
                record.restarts,
                tuple(optional(s, int) for s in steps),
                tuple(optional(s) for s in seconds),
                tuple(optional(r) for r in finals),
                tuner=tuner.to_json() if tuner else None,
            )
            replay = None
            if config.checkpoint_replay and algorithm.replay:
                replay = [(range(mine.start + m.start, mine.start + m.stop), r) for m, r in fleet.replays()]
            saver.save(env_steps, peers.to_global(fleet.saved()), host.to_json(), replay)

        # a signal that came while the programs compiled stops the run before its first chunk
        stop_asked, all_finished, _ = peers.agree(stop.signal, scores.finished(), False)
        if stop_asked and done_iterations < num_iterations and not all_finished:
            interrupted_by = stop_asked
        while done_iterations < num_iterations and not all_finished and not interrupted_by:
            n = min(chunk, num_iterations - done_iterations)
            if tuner:  # a chunk ends at the next ready point
                n = min(n, ready_iterations - done_iterations % ready_iterations)
            chunk_start = time.perf_counter()
            metrics = fleet.train_chunk(n)
            now, trained = time.perf_counter(), True
            done_iterations += n
            env_steps = int(metrics["env_steps"][-1, 0])
            # the chunk ran as one program: place an iteration by its share of the chunk's time
            scores.update(metrics, lambda i: chunk_start - start + (now - chunk_start) * (i + 1) / n)  # noqa: B023
            if tuner:  # the values each member trained with in this chunk
                metrics.update({f"hparams/{name}": np.tile(tuner.hyper[name][mine], (n, 1)) for name in tuner.ranges})
            metrics.update(compile_metrics(compiles.take(), metrics["env_steps"].shape))
            log.log_chunk(metrics, now - start)
            if tuner and done_iterations % ready_iterations == 0 and done_iterations < num_iterations:
                # (before a stop or a checkpoint: a resumed run has made this ready point's copies)
                ranked = np.where(scores.diverged_at >= 0, np.nan, scores.final_return)
                decision = tuner.step(ranked, env_steps)
                fleet.exploit(decision.children, decision.parents, config.pbt["copy_replay"])
                fleet.set_hyper(decision.hyper)
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
                capture_video(fleet, config, log, run_dir, population.names[0], env_steps)
            if due and unfinished:  # else the final checkpoint follows at once
                checkpoint()
        if trained and not interrupted_by:  # once, when the run completes (not again on resuming a complete run)
            log.log_hparams(hparams[mine], scores.final_return, env_steps)
        checkpoint()

    steps, seconds, finals, diverged = peers.gather(scores.rows()).T
    summary = {
        "algo": config.algo,
        "env": config.env,
        "total_steps": num_iterations * steps_per_iteration,
        "wall_s": round(time.perf_counter() - start, 3),
        "run_dir": str(run_dir),
        "interrupted_by": interrupted_by,
        "compile_s": compiles.summary(),  # {program: {trace, lower, compile}}: this process's
        # this process's: the estimate before compiling, the compiled programs' (where they were
        # compiled before the state was made) and the peak RSS measured at the end
        "memory": {"estimate_bytes": need.total_bytes, **compiled_memory, "peak_rss_bytes": memory.peak_rss_bytes()},
        "runs": [
            {
                "run": everyone.names[member],
                "seed": everyone.seeds[member],
                "hyper": {key: value for key, value in hparams[member].items() if key != "seed"},
                "final_return": optional(finals[member]),
                "diverged_at_step": optional(diverged[member], int),
                "env_steps": env_steps,
                "steps_to_target": optional(steps[member], int),
                "seconds_to_target": optional(seconds[member]),
            }
            for member in range(len(everyone.seeds))
        ],
    }
    if tuner:  # each member's values at the end, and how it got them
        for member, run in enumerate(summary["runs"]):
            run["hyper"].update(tuner.values_of(member))
        lineage = dict(zip(everyone.names, tuner.lineage, strict=True))
        summary["pbt"] = {**{key: config.pbt[key] for key in PBT_SUMMARY}, "lineage": lineage}
    if peers.index == 0:
        write_json(run_dir / "summary.json", summary)
    return summary
