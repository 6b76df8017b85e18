"""The training session: plans the run, opens (or resumes) its run dir, builds the population on
every local device, and runs the loop over hooks (jaxrl.training.hooks) until the plan is done
or a stop is agreed; then writes summary.json. All the host I/O of a run lives here and below;
the programs it runs are the core's."""

import contextlib
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxrl.config import RunConfig
from jaxrl.logs.base import Loggers, RunInfo
from jaxrl.logs.files import write_json
from jaxrl.training import checkpoints, memory
from jaxrl.training.actor_learner import peers_for, runner_for
from jaxrl.training.compile_times import CompileTimes
from jaxrl.training.distributed import Peers
from jaxrl.training.fleet import Fleet
from jaxrl.training.hooks.agreement import StopAgreement
from jaxrl.training.hooks.base import Hook, Loop, run_loop
from jaxrl.training.hooks.checkpointing import Checkpoints
from jaxrl.training.hooks.episode_info import EpisodeInfo
from jaxrl.training.hooks.evaluating import Evaluation
from jaxrl.training.hooks.legal_actions import LegalActions
from jaxrl.training.hooks.logs import Logging
from jaxrl.training.hooks.pbt import Exploit
from jaxrl.training.hooks.scoring import Scoring
from jaxrl.training.hooks.teams import Teams, add_team_summary
from jaxrl.training.hooks.video import Video
from jaxrl.training.pbt import Tuner
from jaxrl.training.plan import RunPlan, make_plan
from jaxrl.training.population import Population, member_hparams
from jaxrl.training.rundir import open_run_dir
from jaxrl.training.scoreboard import Record, Scoreboard, optional
from jaxrl.training.stopping import StopRequests


def train(
    config: RunConfig,
    loggers: list | None = None,
    population: Population | None = None,
    resume: Path | str | None = None,
    should_stop=None,
    peers: Peers | None = None,
    force: bool = False,
) -> dict:
    """Trains the population described by `config` and writes everything under its run dir:
    plans, opens (or resumes), starts the fleet, then runs the loop over hooks.
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
        began, peers = time.perf_counter(), peers_for(config, peers or Peers())  # splitting members or data
        plan, runner = make_plan(config, population, peers), runner_for(config, peers)  # Fleet or ActorLearner
        memory.check_fits(plan.need, force)
        opened = open_or_resume(config, plan, peers, resume)
        with contextlib.ExitStack() as cleanup:  # closes whatever was opened, however this ends
            fleet, tuner, compiled = start_fleet(cleanup, runner, opened, plan, peers, force)
            log = open_loggers(cleanup, loggers, opened, plan, peers, fleet)
            scores = Scoreboard(opened.record, plan.mine, fleet.diverged_at(), config.target_return)
            hooks = make_hooks(opened, plan, fleet, log, peers, scores, tuner, stop, compiles, should_stop)
            cleanup.callback(hooks.evaluation.close)
            start = began - opened.record.elapsed_s  # times continue from where the stopped run left them
            loop = Loop(plan, opened.record.iterations, opened.record.env_steps, start)
            # after EnvPool's programs are traced (a JAX env's chunk is traced at its first call, and
            # shares the GIL with the import until XLA, which releases it, compiles the chunk)
            checkpoints.import_orbax_meanwhile()
            run_loop(loop, fleet.train_chunk, hooks.all)
        rows = peers.gather(scores.rows())
        summary = summary_of(opened, plan, loop, rows, scores.evaluations, tuner, compiles, compiled)
        if fleet.spec.agents:
            add_team_summary(summary, fleet.spec.agents, hooks.teams)
        hooks.episodes.add_summary(summary["runs"], plan.mine)
        if peers.index == 0:
            write_json(Path(summary["run_dir"]) / "summary.json", summary)
    return summary


class Opened(NamedTuple):
    config: RunConfig  # as config.json records it (a new run's: with the memory estimate)
    run_dir: Path
    record: Record  # where the loop starts: a resumed run's checkpoint's, else a fresh one
    step: int | None  # the checkpoint a resumed run continues from; None: from the start
    notes: list[str]  # told to the loggers once they are open
    resumed: bool


def open_or_resume(config: RunConfig, plan: RunPlan, peers: Peers, resume: Path | str | None) -> Opened:
    """A new run dir with config.json, or `resume`'s with its latest complete checkpoint's record
    (checkpoints a kill cut short removed first)."""
    unset = (None,) * len(plan.everyone.seeds)
    record = Record(steps_to_target=unset, seconds_to_target=unset, final_return=unset)
    if resume is None:
        config = dataclasses.replace(config, memory=plan.need.to_json())  # config.json records it
        return Opened(config, open_run_dir(config, peers), record, None, plan.notes(config), False)
    run_dir, notes = Path(resume), []
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
    return Opened(config, run_dir, record, step, notes, True)


def tuner_of(config: RunConfig, plan: RunPlan, record: Record, fleet: Fleet) -> Tuner | None:
    """PBT's tuner, its values set in the fleet (resumed: the values, lineage and generator where
    the checkpoint left them); None without PBT."""
    if not config.pbt:
        return None
    initial = {name: np.asarray(values) for name, values in vars(plan.everyone.hyper).items()}
    tuner = Tuner(config.pbt, initial, config.seed, record.tuner)
    fleet.set_hyper(tuner.hyper)
    return tuner


def start_fleet(
    cleanup: contextlib.ExitStack, runner: Callable, opened: Opened, plan: RunPlan, peers: Peers, force: bool
) -> tuple[Fleet, Tuner | None, dict]:
    """(the fleet with its members' state made, PBT's tuner, summary.json's "memory" entries of
    the compiled programs); `runner`: the synchronous Fleet or the actor-learner, which has its
    methods; the fleet is closed with `cleanup`."""
    fleet = cleanup.enter_context(contextlib.closing(runner(opened.config, plan.population, opened.record.restarts)))
    tuner = tuner_of(opened.config, plan, opened.record, fleet)
    return fleet, tuner, make_state(fleet, plan, opened, peers, force)


def make_state(fleet: Fleet, plan: RunPlan, opened: Opened, peers: Peers, force: bool) -> dict:
    """Makes the members' state, fresh or from the checkpoint (read before anything compiles: one
    that does not fit fails fast), checking the compiled programs' memory before a big state is
    allocated. Returns summary.json's "memory" entries of the compiled programs."""
    compiled_memory = {}

    def check_compiled(programs: dict, state_made: bool) -> None:
        after, compiled_memory["compiled"] = memory.compiled_estimate(plan.need, programs, state_made)
        memory.check_fits(after, force, runtime="compiled programs and runtime")

    if opened.step is None:
        fleet.init(compiled=check_compiled)
        return compiled_memory
    algorithm, run_dir, step, mine = plan.algorithm, opened.run_dir, opened.step, plan.mine
    like = checkpoints.checkpoint_like(algorithm, fleet.agent, plan.population.seeds, plan.population.hyper)
    like.update(fleet.env_like())  # a JAX env's states, kept by its checkpoints
    saved = peers.to_local(checkpoints.restore_state(run_dir, peers.to_global(like), step))

    def read_replay(members: range, into):  # this process's members -> the population's
        whole = range(mine.start + members.start, mine.start + members.stop)
        return checkpoints.restore_replay(run_dir, step, into, whole)

    with_replay = opened.config.checkpoint_replay and algorithm.replay
    fleet.init(saved, read_replay if with_replay else None, check_compiled)
    refills = not opened.config.checkpoint_replay and algorithm.replay is not None
    note = "; the replay was not checkpointed: learning waits until it refills" if refills else ""
    opened.notes.append(f"resuming {run_dir} at env step {step:,}{note}")
    return compiled_memory


def open_loggers(
    cleanup: contextlib.ExitStack, sinks: list | None, opened: Opened, plan: RunPlan, peers: Peers, fleet: Fleet
) -> Loggers:
    """The sinks as one, told about the run, then the notes gathered while opening it; closed
    with `cleanup`."""
    log = cleanup.enter_context(contextlib.closing(Loggers(sinks or [] if peers.logs_here else [])))
    config, size = opened.config, len(plan.population.seeds)
    if len(fleet.groups) > 1:
        devices = ", ".join(str(group.device) for group in fleet.groups)
        opened.notes.append(
            f"{size} members over {len(fleet.groups)} devices ({devices}), {size // len(fleet.groups)} each"
        )
    log.open(
        RunInfo(
            run_dir=opened.run_dir,
            names=plan.population.names,
            settings={"env": config.env, **dataclasses.asdict(config.static), **dataclasses.asdict(config.hyper)},
            config=config.to_json(),
            resume_step=opened.record.env_steps if opened.resumed else None,  # 0: cut back to the start
            total_steps=plan.total_steps,
            population=len(plan.everyone.seeds),
            primary=peers.index == 0,
        )
    )
    for note in opened.notes:
        log.note(note)
    return log


class Hooks(NamedTuple):
    all: list[Hook]  # in the order the loop tells them
    evaluation: Evaluation  # (closed however the run ends: it holds env pools)
    episodes: EpisodeInfo  # what the env reported about its episodes, for the summary
    teams: Teams | None  # a multi-agent env's: what summary.json takes from it (the win rate)


def make_hooks(opened, plan, fleet, log, peers, scores, tuner, stop, compiles, should_stop) -> Hooks:
    """The hooks of a run, in order: scores first (the others read them), metrics added before
    they are logged, the stop agreement before what a stop skips (videos, checkpoints)."""
    config = opened.config
    saver = checkpoints.Checkpointer(
        opened.run_dir, config.keep_checkpoints, config.checkpoint_every, opened.record.env_steps
    )
    evaluation = Evaluation(config, fleet, peers, scores)
    env_label = config.env or type(config.env_instance[0]).__name__
    hooks: list[Hook] = [LegalActions(env_label), Scoring(scores), evaluation]
    if tuner:
        hooks.append(Exploit(tuner, fleet, scores, config.pbt.copy_replay))
    teams = Teams(fleet.spec.agents) if fleet.spec.agents else None
    if teams:  # a multi-agent env: team/return (and the agents', the win rate) added before they are logged
        hooks.append(teams)
    episodes = EpisodeInfo()  # the env's per-episode tags, made means before they are logged
    hooks += [
        episodes,
        Logging(log, compiles, member_hparams(plan.everyone)[plan.mine], scores),
        StopAgreement(peers, stop, should_stop, scores, saver),
    ]
    if config.capture_video and peers.index == 0:
        hooks.append(Video(config, fleet, log, opened.run_dir, plan.population.names[0]))
    hooks.append(Checkpoints(config, fleet, saver, log, peers, scores, opened.record.restarts, tuner))
    return Hooks(hooks, evaluation, episodes, teams)


PBT_SUMMARY = ("population", "ready_every", "truncation", "resample_probability", "copy_replay", "ranges")


def summary_of(
    opened: Opened,
    plan: RunPlan,
    loop: Loop,
    rows: np.ndarray,
    evaluations: list,
    tuner: Tuner | None,
    compiles: CompileTimes,
    compiled: dict,
) -> dict:
    """summary.json from the scoreboard's rows of every member (Scoreboard.rows, gathered) and
    evaluations, and this process's compile seconds and memory (`compiled`: start_fleet's)."""
    config, everyone = opened.config, plan.everyone
    steps, seconds, finals, diverged = rows.T
    hparams = member_hparams(everyone)
    runs = [
        {
            "run": everyone.names[member],
            "seed": everyone.seeds[member],
            "hyper": {key: value for key, value in hparams[member].items() if key != "seed"},
            "final_return": optional(finals[member]),
            "diverged_at_step": optional(diverged[member], int),
            "env_steps": loop.env_steps,
            "steps_to_target": optional(steps[member], int),
            "seconds_to_target": optional(seconds[member]),
        }
        for member in range(len(everyone.seeds))
    ]
    for member, run in enumerate(runs):
        if evaluations:  # --eval-every: each evaluation's mean greedy return, the last one apart
            run["eval_return"] = evaluations[-1]["returns"][member]
            run["eval_returns"] = [[e["step"], e["returns"][member]] for e in evaluations]
            last = evaluations[-1]  # and the last one's other means: eval_team_return, eval_win_rate
            run.update({f"eval_{name}": last[name][member] for name in last if name not in ("step", "returns")})
        if tuner:  # each member's values at the end, and how it got them
            run["hyper"].update(tuner.values_of(member))
    summary = {
        "algo": config.algo,
        "env": config.env,
        "total_steps": plan.total_steps,
        "wall_s": round(loop.elapsed(), 3),
        "run_dir": str(opened.run_dir),
        "interrupted_by": loop.interrupted_by,
        "compile_s": compiles.summary(),  # {program: {trace, lower, compile}}: this process's
        # this process's: the estimate before compiling, the compiled programs' (where they were
        # compiled before the state was made) and the peak RSS measured at the end
        "memory": {"estimate_bytes": plan.need.total_bytes, **compiled, "peak_rss_bytes": memory.peak_rss_bytes()},
        "runs": runs,
    }
    if tuner:
        lineage = dict(zip(everyone.names, tuner.lineage, strict=True))
        summary["pbt"] = {**{key: getattr(config.pbt, key) for key in PBT_SUMMARY}, "lineage": lineage}
    return summary
