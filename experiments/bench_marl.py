"""bench.py's `marl` section (issue 29), in its own module: IPPO on JaxMARL's MPE simple_spread,
jaxrl's `ippo` beside JaxMARL's own baseline (baselines/IPPO/ippo_ff_mpe.py, run unmodified but
for NUM_SEEDS and TOTAL_TIMESTEPS, in a subprocess), the same budget and seeds, one after the
other on the same machine, each run a whole process of its own (jaxrl's from an empty
compilation cache: the cost of a first run). jaxrl runs its `ippo` [mpe] preset (one epoch of one
minibatch at lr 2.5e-3 since issue 29's tuning), JaxMARL its script's defaults.

Budgets: JaxMARL's TOTAL_TIMESTEPS counts games' steps, jaxrl's total_steps rows (games x 3
agents): the same number of updates (rollouts of 16 games x 128 steps) on both. Returns are per
agent (an agent's own rewards over a game, the mean over agents: JaxMARL's MPELogWrapper's
returned_episode_returns and jaxrl's charts/episodic_return); the team's is 3x.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ENV = "MPE_simple_spread_v3"
AGENTS = 3


class Curve:
    """A logger keeping each iteration's return per agent of each member, and the members' mean
    of each iteration's return and team return."""

    def __init__(self):
        self.sums, self.ended, self.returns, self.teams = [], [], [], []

    def open(self, run): ...
    def log_chunk(self, metrics, elapsed_s):
        ended = metrics["episodes_ended"]
        self.sums.append(metrics["episode_return_sum"])
        self.ended.append(ended)
        self.returns += list(metrics["episode_return_sum"].sum(axis=1) / np.maximum(ended.sum(axis=1), 1))
        self.teams += list(np.nanmean(metrics["team/return"], axis=1))

    def member_returns(self) -> np.ndarray:
        """[iterations, members]: each member's mean return per agent of the games ended in an
        iteration (NaN where none ended)."""
        sums, ended = np.concatenate(self.sums), np.concatenate(self.ended)
        return np.where(ended > 0, sums / np.maximum(ended, 1), np.nan)

    def log_hparams(self, member_hparams, final_returns, step): ...
    def log_video(self, member, frames, fps, step): ...
    def note(self, text): ...
    def flush(self): ...
    def close(self): ...


def jaxrl_ippo(seeds: int, rows: int, logdir: str) -> dict:
    """One run of every seed as one program (its compile included), in this process."""
    import jaxrl

    curve = Curve()
    start = time.perf_counter()
    result = jaxrl.train("ippo", env=ENV, seeds=seeds, total_steps=rows, logdir=logdir, loggers=[curve])
    wall = time.perf_counter() - start
    tenth = max(len(curve.returns) // 10, 1)  # the first and last tenth of the iterations
    return {
        "wall_s": wall,
        "compile_s": result.summary["compile_s"]["total"],
        "start_return": float(np.mean(curve.returns[:tenth])),
        "end_return": float(np.mean(curve.returns[-tenth:])),
        "end_team_return": float(np.mean(curve.teams[-tenth:])),
    }


def jaxrl_process(seeds: int, rows: int, logdir: str) -> dict:
    """`jaxrl_ippo` in a process of its own with an empty compilation cache: its wall seconds as a
    whole process (start-up, imports, compile, training: as JaxMARL's are) in "process_s"."""
    from bench import in_child

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        run = in_child("bench_marl.jaxrl_ippo", seeds, rows, logdir, environment={"JAXRL_CACHE_DIR": cache})[0]
        return {**run, "process_s": time.perf_counter() - start}


# JaxMARL's script on this VM sometimes never ends: every thread waiting, its main thread in XLA's
# execute while the program's io_callback (the script's wandb logging) waits (seen on a quiet
# machine, in the timed script and in `jaxmarl_curve`'s run). Such a run is stopped and run again.
HUNG_AFTER_S = 400
ATTEMPTS = 3


def until_one_ends(run, what: str):
    """`run()` (a child process given HUNG_AFTER_S) again while it hangs, ATTEMPTS times at most:
    the first result, or None if every attempt hung."""
    for attempt in range(ATTEMPTS):
        try:
            return run()
        except subprocess.TimeoutExpired:
            print(f"{what} hung (attempt {attempt + 1} of {ATTEMPTS})", file=sys.stderr)
    return None


def jaxmarl_ippo(script: str, python_path: str, seeds: int, game_steps: int, workdir: str) -> float:
    """Wall seconds of JaxMARL's ippo_ff_mpe.py (its import, compile and training; wandb off): of
    its first run that ends (see HUNG_AFTER_S)."""
    argv = [sys.executable, script, f"NUM_SEEDS={seeds}", f"TOTAL_TIMESTEPS={game_steps}"]
    env = {**os.environ, "PYTHONPATH": python_path, "WANDB_MODE": "disabled"}

    def run() -> float:
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env, cwd=workdir, timeout=HUNG_AFTER_S)
        return time.perf_counter() - start

    wall = until_one_ends(run, "JaxMARL's script")
    if wall is None:
        raise RuntimeError(f"JaxMARL's script hung {ATTEMPTS} times")
    return wall


def jaxmarl_curve(seeds: int, updates: int, script: str) -> dict:
    """JaxMARL's own return per agent, first and last tenth of the updates: MPELogWrapper's
    returned_episode_returns (each agent's last finished game, logged x the number of agents; the
    script's mean over an update's steps and agents), over seeds and agents here. Its script's
    `make_train` run in this process as its main runs it (SEED 30, seeds vmapped). Not timed."""
    import jax
    import numpy as np

    sys.path.insert(0, os.path.dirname(script))
    import wandb

    wandb.init(mode="disabled")  # its io_callback logs to wandb every update
    baseline = __import__(os.path.basename(script).removesuffix(".py"))
    config = dict(JAXMARL_CONFIG, TOTAL_TIMESTEPS=updates * 16 * 128)
    keys = jax.random.split(jax.random.PRNGKey(30), seeds)
    out = jax.jit(jax.vmap(baseline.make_train(config)))(keys)
    # [seeds, updates]; MPELogWrapper logs each agent's rewards times the number of agents
    curve = np.asarray(out["metrics"]["returned_episode_returns"]).mean(axis=0) / AGENTS
    tenth = max(updates // 10, 1)
    return {"start_return": float(curve[:tenth].mean()), "end_return": float(curve[-tenth:].mean())}


def marl(seeds: int, repeats: int, script: str, python_path: str, updates: int = 160) -> dict:
    """`updates` rollouts of 16 games x 128 steps per seed, on both, interleaved repeat by repeat."""
    game_steps = updates * 16 * 128
    rows = game_steps * AGENTS
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as logdir:
        for _ in range(repeats):
            ours.append(jaxrl_process(seeds, rows, logdir))
            if script:  # (without --jaxmarl-script: jaxrl's row alone)
                theirs.append(jaxmarl_ippo(script, python_path, seeds, game_steps, logdir))
    curve = None  # JaxMARL's return, untimed; left out (NaN) if every attempt hung
    if script:
        from bench import in_child

        path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH", ""), python_path) if p)
        curve = until_one_ends(
            lambda: in_child(
                "bench_marl.jaxmarl_curve", seeds, updates, script, environment={"PYTHONPATH": path},
                timeout_s=HUNG_AFTER_S,
            )[0],
            "JaxMARL's curve",
        )  # fmt: skip
    curve = curve or {"start_return": float("nan"), "end_return": float("nan")}
    wall = statistics.median(run["process_s"] for run in ours)
    peer = statistics.median(theirs) if theirs else float("nan")
    per_million = 1e6 / (seeds * rows)  # seconds per million rows (agent steps) of all seeds
    last = ours[-1]
    lines = [
        f"| IPPO {ENV}, {seeds} seeds, {updates} updates | agent steps per seed | wall s, median "
        "| s per million agent steps | return per agent, first -> last tenth | vs JaxMARL |",
        "|---|---|---|---|---|---|",
        f"| jaxrl ippo | {rows:,} | {wall:.1f} | {wall * per_million:.2f} "
        f"| {last['start_return']:.1f} -> {last['end_return']:.1f} (team {last['end_team_return']:.1f}) "
        f"| {wall / peer:.2f}x |",
        f"| JaxMARL ippo_ff_mpe.py | {rows:,} | {peer:.1f} | {peer * per_million:.2f} "
        f"| {curve['start_return']:.1f} -> {curve['end_return']:.1f} | 1.00x |",
    ]
    text = (
        "\n".join(lines) + f"\n\n{repeats} repeats, interleaved; each a whole process (jaxrl's from an empty "
        "compilation cache); machine shared with other work."
    )
    figures = {"seeds": seeds, "updates": updates, "rows": rows, "jaxrl": ours, "jaxmarl_wall_s": theirs}
    figures["jaxmarl_curve"] = curve
    return {"text": text, "figures": figures, "goals": []}


# JaxMARL's ippo_ff_mpe.yaml, its settings as the `marl` section runs them (NUM_SEEDS, TOTAL_TIMESTEPS set there)
JAXMARL_CONFIG = dict(
    LR=2.5e-4, NUM_ENVS=16, NUM_STEPS=128, UPDATE_EPOCHS=4, NUM_MINIBATCHES=4, GAMMA=0.99, GAE_LAMBDA=0.95,
    CLIP_EPS=0.2, ENT_COEF=0.01, VF_COEF=0.5, MAX_GRAD_NORM=0.5, ACTIVATION="tanh", ENV_NAME=ENV, ENV_KWARGS={},
    ANNEAL_LR=True,
)  # fmt: skip


def timed(call) -> tuple[float, float]:
    """(wall s, CPU s of this process: every thread) of `call()`, its result awaited."""
    import jax

    wall, cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(call())
    return time.perf_counter() - wall, time.process_time() - cpu


def steady_updates(seeds: int, updates: int, repeats: int, script: str) -> dict:
    """Seconds per update of each program once compiled, in this process, interleaved: JaxMARL's
    jit(vmap(train)) of `updates` updates, called again, and jaxrl's fused chunk of `updates`
    iterations. Run where `script`'s imports resolve (see `marl_update`)."""
    import jax
    import numpy as np

    sys.path.insert(0, os.path.dirname(script))
    import wandb

    wandb.init(mode="disabled")  # its io_callback logs to wandb every update
    baseline = __import__(os.path.basename(script).removesuffix(".py"))
    from jaxrl.algos import get_algorithm
    from jaxrl.api import enable_compilation_cache
    from jaxrl.config import resolve
    from jaxrl.training.assembly import assemble
    from jaxrl.training.population import seed_population

    enable_compilation_cache()
    config = dict(JAXMARL_CONFIG, TOTAL_TIMESTEPS=updates * 16 * 128)
    theirs = jax.jit(jax.vmap(baseline.make_train(config)))
    keys = jax.random.split(jax.random.PRNGKey(30), seeds)
    algorithm = get_algorithm("ippo")
    run = resolve(algorithm, {"env": ENV, "seeds": seeds})
    population = seed_population(algorithm, run)
    programs, hyper = assemble(run, population.seeds).programs, population.hyper
    state, handle = programs.init(np.asarray(population.seeds, np.int32), hyper)
    ours = {"state": state, "handle": handle}

    def chunk():
        ours["state"], ours["handle"], metrics = programs.dispatch(ours["state"], ours["handle"], hyper, updates)
        return metrics

    first = {"jaxmarl": timed(lambda: theirs(keys)), "jaxrl": timed(chunk)}  # compile and run
    runs = {"jaxmarl": [], "jaxrl": []}
    for _ in range(repeats):
        runs["jaxmarl"].append(timed(lambda: theirs(keys)))
        runs["jaxrl"].append(timed(chunk))
    return {"first": first, "runs": runs}


def marl_update(seeds: int, repeats: int, script: str, python_path: str, updates: int = 10) -> dict:
    """Where jaxrl's ippo and JaxMARL's ippo_ff_mpe differ once compiled: seconds per update (wall
    and CPU), `updates` per call, medians of `repeats`, in one child process with JaxMARL's imports."""
    from bench import in_child

    path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH", ""), python_path) if p)
    result = in_child("bench_marl.steady_updates", seeds, updates, repeats, script, environment={"PYTHONPATH": path})[0]
    medians = {
        name: [statistics.median(run[i] for run in runs) / updates for i in (0, 1)]
        for name, runs in result["runs"].items()
    }
    lines = [
        f"| IPPO {ENV}, {seeds} seeds, compiled | wall ms per update | CPU ms per update | first call, wall s "
        "(compile + run) | vs JaxMARL (CPU) |",
        "|---|---|---|---|---|",
    ]
    for name in ("jaxrl", "jaxmarl"):
        wall, cpu = medians[name]
        lines.append(
            f"| {name} | {wall * 1e3:.0f} | {cpu * 1e3:.0f} | {result['first'][name][0]:.1f} "
            f"| {cpu / medians['jaxmarl'][1]:.2f}x |"
        )
    text = "\n".join(lines) + f"\n\n{updates} updates per call, medians of {repeats}, interleaved; machine shared."
    return {"text": text, "figures": {"seeds": seeds, "updates": updates, **result}, "goals": []}
