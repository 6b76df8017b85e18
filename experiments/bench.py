"""Benchmarks (not timed tests): `make bench` or `python experiments/bench.py [--only NAME ...]`.

Every comparison runs its peer in the same invocation, interleaved seed by seed, so a noisy
shared machine slows both alike; the table reports medians and the ratio. Paste the output
into BENCHMARKS.md with the machine it ran on.

  cartpole-ppo   whole process to a mean return of 475 (last 20 episodes): jaxrl (cold and warm
                 compilation cache) vs Stable-Baselines3 PPO with rl-zoo's hyperparameters
  scaling        wall-clock of 16 seeds vs 1 seed of PPO CartPole at a fixed step budget
  pong-ppo       Pong PPO training SPS on this machine beside raw EnvPool Pong throughput
"""

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def whole_process(argv: list[str], env: dict | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "CI": "true", **(env or {})})
    if result.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - start, result.stdout


def jaxrl_to_target(algo: str, seed: int, cache: str, logdir: str) -> dict:
    name = f"bench-{algo}-{seed}-{time.time_ns()}"
    argv = [sys.executable, "-m", "jaxrl.cli", "train", algo, "--env", "CartPole", "--seed", str(seed)]
    wall, _ = whole_process([*argv, "--logdir", logdir, "--name", name], {"JAXRL_CACHE_DIR": cache})
    summary = json.loads(Path(logdir, "CartPole-v1", algo, name, "summary.json").read_text())
    run = summary["runs"][0]
    return {"wall_s": wall, "steps": run["steps_to_target"], "solved": run["steps_to_target"] is not None}


def sb3_to_target(algo: str, seed: int) -> dict:
    wall, out = whole_process([sys.executable, str(ROOT / "experiments" / "sb3_cartpole.py"), algo, str(seed)])
    result = json.loads(out.strip().splitlines()[-1])
    return {"wall_s": wall, "steps": result["steps_to_target"], "solved": result["steps_to_target"] is not None}


def median(rows: list[dict], key: str) -> float | None:
    values = [row[key] for row in rows if row[key] is not None]
    return statistics.median(values) if values else None


def cartpole(algo: str, seeds: int) -> str:
    """jaxrl (cold, then warm cache) and SB3, interleaved seed by seed."""
    rows = {"sb3": [], "jaxrl cold": [], "jaxrl warm": []}
    with tempfile.TemporaryDirectory() as logdir:
        for seed in range(seeds):
            rows["sb3"].append(sb3_to_target(algo, seed))
            cache = tempfile.mkdtemp(prefix="jaxrl-cache-")  # a fresh, empty compilation cache
            rows["jaxrl cold"].append(jaxrl_to_target(algo, seed, cache, logdir))
            rows["jaxrl warm"].append(jaxrl_to_target(algo, seed, cache, logdir))
    sb3_wall = median(rows["sb3"], "wall_s")
    lines = [
        f"| {algo.upper()} CartPole-v1 to 475 | whole process, median s | steps to 475, median | solved | vs SB3 |",
        "|---|---|---|---|---|",
    ]
    for label, results in rows.items():
        wall = median(results, "wall_s")
        steps = median(results, "steps")
        solved = sum(r["solved"] for r in results)
        ratio = f"{sb3_wall / wall:.2f}x faster" if label != "sb3" else "1.00"
        lines.append(
            f"| {label} | {wall:.2f} | {steps if steps is None else int(steps):,} | {solved}/{seeds} | {ratio} |"
        )
    lines.append(
        "\nper seed (wall s): " + "; ".join(f"{k}: {[round(r['wall_s'], 2) for r in v]}" for k, v in rows.items())
    )
    return "\n".join(lines)


def scaling(repeats: int) -> str:
    """Same step budget per member, P = 1 and P = 16, compiled once beforehand; medians of `repeats`."""
    from jaxrl.algos import get_algorithm
    from jaxrl.cli import enable_compilation_cache
    from jaxrl.config import resolve
    from jaxrl.runner import train

    enable_compilation_cache()
    budget = 25_600
    times = {1: [], 16: []}
    with tempfile.TemporaryDirectory() as logdir:
        for size in (1, 16):  # warm-up: compile both programs
            config = resolve(get_algorithm("ppo"), {"seeds": size, "total_steps": budget, "logdir": logdir})
            train(dataclasses.replace(config, target_return=None), quiet=True)
        for _ in range(repeats):
            for size in (1, 16):
                config = resolve(get_algorithm("ppo"), {"seeds": size, "total_steps": budget, "logdir": logdir})
                start = time.perf_counter()
                train(dataclasses.replace(config, target_return=None), quiet=True)
                times[size].append(time.perf_counter() - start)
    one, sixteen = statistics.median(times[1]), statistics.median(times[16])
    return (
        f"| PPO CartPole, {budget:,} steps per member | median s | env steps/s (all members) |\n|---|---|---|\n"
        f"| 1 seed | {one:.2f} | {budget / one:,.0f} |\n| 16 seeds, one program | {sixteen:.2f} | {16 * budget / sixteen:,.0f} |\n"
        f"\n16 seeds cost {sixteen / one:.2f}x the wall-clock of 1 seed (target <= 6x); runs: {times}"
    )


def pong(repeats: int) -> str:
    """Training SPS of PPO (8 envs x 128 steps, CleanRL settings) vs EnvPool stepping random actions."""
    import envpool
    import jax
    import numpy as np

    from jaxrl.algos import get_algorithm
    from jaxrl.cli import enable_compilation_cache
    from jaxrl.config import resolve
    from jaxrl.envs import env_seeds, make_env
    from jaxrl.runner import make_runner, seed_population

    enable_compilation_cache()
    algorithm = get_algorithm("ppo")
    config = resolve(algorithm, {"env": "Pong", "total_steps": 10_240_000})
    static = algorithm.Static(**config.static)
    population = seed_population(algorithm, config)
    env = make_env(config.env, env_seeds(0, static.num_envs), **config.env_options)
    agent = algorithm.build(static, env.spec, config.total_steps // (static.num_envs * static.rollout_steps))
    runner = make_runner(agent, env, 1, static.rollout_steps)
    state, handle = runner.init(np.asarray(population.seeds, np.int32), population.hyper)
    iterations = 4
    state, handle, _ = runner.train_chunk(state, handle, population.hyper, num_iterations=iterations)  # compile
    train_sps = []
    for _ in range(repeats):
        start = time.perf_counter()
        state, handle, metrics = runner.train_chunk(state, handle, population.hyper, num_iterations=iterations)
        jax.block_until_ready(metrics)
        train_sps.append(iterations * static.num_envs * static.rollout_steps / (time.perf_counter() - start))
    env.close()

    pool = envpool.make("Pong-v5", env_type="gymnasium", num_envs=static.num_envs, seed=env_seeds(0, static.num_envs))
    pool.reset()
    rng = np.random.default_rng(0)
    raw_sps = []
    for _ in range(repeats):
        actions = rng.integers(0, 6, (500, static.num_envs))
        start = time.perf_counter()
        for action in actions:
            pool.step(action)
        raw_sps.append(500 * static.num_envs / (time.perf_counter() - start))
    train, raw = statistics.median(train_sps), statistics.median(raw_sps)
    return (
        "| Pong-v5, 8 envs | env steps/s, median |\n|---|---|\n"
        f"| raw EnvPool, random actions | {raw:,.0f} |\n| PPO training (rollout + learning) | {train:,.0f} |\n"
        f"\ntraining / raw = {train / raw:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=["cartpole-ppo", "scaling", "pong-ppo"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    sections = {
        "cartpole-ppo": lambda: cartpole("ppo", args.seeds),
        "cartpole-a2c": lambda: cartpole("a2c", args.seeds),
        "scaling": lambda: scaling(args.repeats),
        "pong-ppo": lambda: pong(args.repeats),
    }
    for name in args.only:
        print(f"\n### {name}\n\n{sections[name]()}", flush=True)


if __name__ == "__main__":
    main()
