"""bench.py's `impala` section (issue 27), in its own module: IMPALA's asynchronous actor-learner
beside synchronous PPO on the same machine, in the same invocation, interleaved.

- CartPole-v1: whole process (`jaxrl train ... --target-return 475`, warm compilation cache) to
  the target, seed by seed, each algorithm with its preset; and the env steps per second of
  each training (summary.json: env steps / the run's wall seconds).
- Breakout-v5: steady env steps per second of training, each algorithm with its Atari preset,
  measured in one process on the runner the session would build (compiled beforehand by a
  warm-up chunk), chunks of the two interleaved, medians.
- Breakout-v5 to a CPU-sized target: one whole `jaxrl train` process per algorithm (Atari preset,
  seed 0) stopped by SIGINT at a fixed wall budget if it has not reached the target by then; the
  time and steps to the target, the return at the end and the curve (charts/recent_return).
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ALGOS = ("impala", "ppo")


def to_target(algo: str, seed: int, target: float, logdir: str, cache: str) -> dict:
    """One whole `jaxrl train` process to `target` on EnvPool's CartPole-v1: wall, steps, env steps/s."""
    name = f"bench-{algo}-{seed}-{time.time_ns()}"
    argv = [sys.executable, "-m", "jaxrl.cli", "train", algo, "--env", "CartPole-v1", "--seed", str(seed)]
    argv += ["--target-return", f"{target:g}", "--logdir", logdir, "--name", name]
    start = time.perf_counter()
    env = {**os.environ, "CI": "true", "JAXRL_CACHE_DIR": cache}
    subprocess.run(argv, check=True, capture_output=True, env=env, cwd=logdir)
    wall = time.perf_counter() - start
    summary = json.loads(Path(logdir, "CartPole-v1", algo, name, "summary.json").read_text())
    run = summary["runs"][0]
    return {"wall_s": wall, "steps": run["steps_to_target"], "sps": run["env_steps"] / summary["wall_s"]}


def cartpole_rows(seeds: int, target: float = 475.0) -> str:
    rows: dict[str, list[dict]] = {algo: [] for algo in ALGOS}
    with tempfile.TemporaryDirectory() as logdir, tempfile.TemporaryDirectory() as cache:
        for algo in ALGOS:  # warms the compilation cache: the rows below are warm runs
            to_target(algo, 99, target, logdir, cache)
        for seed in range(seeds):
            for algo in ALGOS:
                rows[algo].append(to_target(algo, seed, target, logdir, cache))
    lines = [
        f"| CartPole-v1 to {target:g}, {seeds} seeds | whole process s, median | x PPO | steps, median "
        "| solved | env steps/s, median | x PPO |",
        "|---|---|---|---|---|---|---|",
    ]
    base = {key: statistics.median(row[key] for row in rows["ppo"]) for key in ("wall_s", "sps")}
    for algo, runs in rows.items():
        solved = [row for row in runs if row["steps"] is not None]
        wall, sps = statistics.median(r["wall_s"] for r in runs), statistics.median(r["sps"] for r in runs)
        steps = f"{statistics.median(r['steps'] for r in solved):,.0f}" if solved else "-"
        lines.append(
            f"| {algo} | {wall:.1f} | {wall / base['wall_s']:.2f}x | {steps} | {len(solved)}/{len(runs)} "
            f"| {sps:,.0f} | {sps / base['sps']:.2f}x |"
        )
    per_seed = "; ".join(f"{algo}: " + ", ".join(f"{r['wall_s']:.1f}" for r in rows[algo]) for algo in ALGOS)
    return "\n".join(lines) + f"\n\nwhole process s per seed: {per_seed}"


def settle(runner) -> None:
    """Waits until an actor-learner's actors have handed over the unrolls they may run ahead
    (nothing of it runs while the other runner is timed); a synchronous runner is idle already."""
    for member in getattr(runner, "actors", []):
        for actor in member:
            while not actor.out.full():
                time.sleep(0.001)


def steady_sps(env: str, repeats: int, iterations: int, options: dict | None = None) -> dict[str, list[float]]:
    """{algo: [env steps/s of a chunk of `iterations` updates, per repeat]}, the algorithms' chunks
    interleaved, each runner warmed up (compiled) by a first chunk. An actor-learner's time
    includes its actors' run-ahead after the chunk (`settle`), so each chunk produces what it
    consumes, as in a long run. `options`: flags for both."""
    from jaxrl.algos import get_algorithm
    from jaxrl.config import resolve
    from jaxrl.training.actor_learner import runner_for
    from jaxrl.training.population import seed_population

    runners, steps = {}, {}
    try:
        for algo in ALGOS:
            algorithm = get_algorithm(algo)
            config = resolve(algorithm, {"env": env, "total_steps": 10**9, **(options or {})})
            runner = runner_for(config)(config, seed_population(algorithm, config), 0)
            runners[algo] = runner
            runner.init()
            runner.train_chunk(2)
            settle(runner)
            steps[algo] = config.static.num_envs * config.static.rollout_steps * iterations
        times: dict[str, list[float]] = {algo: [] for algo in ALGOS}
        for _ in range(repeats):
            for algo, runner in runners.items():
                start = time.perf_counter()
                runner.train_chunk(iterations)
                settle(runner)
                times[algo].append(steps[algo] / (time.perf_counter() - start))
        return times
    finally:
        for runner in runners.values():
            runner.close()


def breakout_rows(repeats: int, iterations: int = 4) -> str:
    sps = steady_sps("Breakout-v5", repeats, iterations)
    base = statistics.median(sps["ppo"])
    lines = ["| Breakout-v5, Atari presets | env steps/s, median | x PPO | per repeat |", "|---|---|---|---|"]
    for algo, row in sps.items():
        median = statistics.median(row)
        lines.append(f"| {algo} | {median:,.0f} | {median / base:.2f}x | {', '.join(f'{v:,.0f}' for v in row)} |")
    return "\n".join(lines)


def breakout_run(algo: str, target: float, budget_s: float, logdir: str, *flags: str) -> dict:
    """One whole `jaxrl train` process on Breakout-v5 (`flags` added) until `target` or `budget_s`
    (then SIGINT, which stops it at the next chunk and writes its summary)."""
    from jaxrl.analysis.compare import read_returns

    name = f"bench-{algo}-breakout-{time.time_ns()}"
    argv = [sys.executable, "-m", "jaxrl.cli", "train", algo, "--env", "Breakout-v5", "--seed", "0"]
    argv += ["--target-return", f"{target:g}", "--log-every", "5120", "--logdir", logdir, "--name", name]
    argv += list(flags)
    start = time.perf_counter()
    process = subprocess.Popen(argv, env={**os.environ, "CI": "true"}, cwd=logdir, stdout=subprocess.DEVNULL)
    try:
        process.wait(timeout=budget_s)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        process.wait()
    wall = time.perf_counter() - start
    run_dir = Path(logdir, "Breakout-v5", algo, name)
    run = json.loads((run_dir / "summary.json").read_text())["runs"][0]
    curve = read_returns(run_dir / run["run"])
    points = [(int(s), float(r)) for s, r in zip(curve.steps, curve.returns, strict=True)]
    return {"wall_s": wall, "steps": run["steps_to_target"], "seconds": run["seconds_to_target"],
            "env_steps": run["env_steps"], "final": run["final_return"], "curve": points}  # fmt: skip


def breakout_target_rows(target: float = 3.0, budget_s: float = 300.0) -> str:
    """IMPALA then PPO on Breakout-v5 to `target`, each a whole process within `budget_s`."""
    with tempfile.TemporaryDirectory() as logdir:
        runs = {algo: breakout_run(algo, target, budget_s, logdir) for algo in ALGOS}
    lines = [
        f"| Breakout-v5 to {target:g}, seed 0, {budget_s:.0f} s budget | whole process s | to target s "
        "| steps to target | env steps | return at the end |",
        "|---|---|---|---|---|---|",
    ]
    for algo, run in runs.items():
        reached = run["steps"] is not None
        to_target = f"{run['seconds']:.0f}" if reached else "not reached"
        steps = f"{run['steps']:,}" if reached else "-"
        lines.append(
            f"| {algo} | {run['wall_s']:.0f} | {to_target} | {steps} | {run['env_steps']:,} | {run['final']:.2f} |"
        )
    curves = "; ".join(
        f"{algo}: " + ", ".join(f"{s // 1000}k {r:.1f}" for s, r in run["curve"][:: max(1, len(run["curve"]) // 8)])
        for algo, run in runs.items()
    )
    return "\n".join(lines) + f"\n\nrecent return by env step: {curves}"


def impala(seeds: int, repeats: int) -> str:
    return cartpole_rows(seeds) + "\n\n" + breakout_rows(repeats) + "\n\n" + breakout_target_rows()
