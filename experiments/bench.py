"""Benchmarks (not timed tests): `make bench` or `python experiments/bench.py [--only NAME ...]`.

Every comparison runs its peer in the same invocation, interleaved seed by seed, so a noisy
shared machine slows both alike; the table reports medians and the ratio. Each section's output
is printed and written as data, experiments/results/<section>-<UTC time>.json (its command, this
machine, the tables, and where the section gives them its figures and goals); `--render` (or
`make benchmarks-md`) then regenerates BENCHMARKS.md from the result files and the prose of
experiments/BENCHMARKS.template.md (see experiments/benchmarks_md.py).

  startup        import time and whole process to 475 of PPO CartPole, warm cache, beside SB3 and
                 (--baseline TREE) an older jaxrl source tree, e.g. a git worktree of an earlier commit
  kill-resume    kill -9 a CartPole run 20 times at random moments from its start; every run dir resumes
  memory         peak RSS of Pong DQN with a 300k replay, checkpointed or not, beside 1.1 x replay + 1.2 GiB
  presets        every CartPole preset at 1x and 5x its budget, 5 seeds: steps to its target
  cartpole-ppo   whole process to a mean return of 475 (last 20 episodes): jaxrl (cold and warm
                 compilation cache) vs Stable-Baselines3 PPO with rl-zoo's hyperparameters
  cartpole-a2c   the same for A2C (to 475)
  cartpole-dqn   the same for DQN, to 400 and to 450 (exploration on)
  scaling        wall-clock of 16 seeds vs 1 seed of PPO CartPole at a fixed step budget
  sweep          wall-clock of a 24-member PPO CartPole sweep (3 lr x 2 ent_coef x 4 seeds) vs 1 run
  backends       PPO CartPole training on the gymnasium backend vs EnvPool, same step budget
  pong-ppo       Pong PPO: time split between env stepping, action selection and learning, training
                 SPS beside raw EnvPool Pong throughput (the physical floor)
  pong-dqn       Pong DQN training SPS (learning on) for populations of 1 and 4, replay bytes
  overlap        Pong PPO, one iteration: env stepping, acting, learning and whole, per env-stepping setting
                 (one synchronous pool, pipelined pools, EnvPool threads = cores): how much is hidden;
                 each part's work on one core and the least a lag-free iteration can take
  mujoco-sac     SAC HalfCheetah-v4, 100k steps: jaxrl 3 seeds in one population vs SB3 SAC (rl-zoo) 1 seed
  mujoco-ppo     PPO HalfCheetah-v4 and Hopper-v4, 1M steps: jaxrl 3 seeds in one population vs SB3 PPO 1 seed
  sac-scaling    wall-clock of 16 SAC members vs 1 on Pendulum-v1 at a fixed step budget
  gymnax-rejax   PPO on gymnax's CartPole-v1 (100k steps) and Breakout-MinAtar (1M steps: rejax's network,
                 then the MinAtar CNN), every seed in one program: whole process (wall and CPU s, medians
                 of --repeats) and final greedy returns, jaxrl (cold and warm cache) beside rejax 0.1.3
                 with its tuned settings (--rejax-python: a Python with rejax and gymnax<1.0)
  gymnax-ppo     whole process to 475 of PPO on gymnax's CartPole-v1 beside SB3 PPO (EnvPool's peer row)
  gymnax-scaling wall-clock of 64 seeds vs 1 seed of PPO on gymnax's CartPole-v1, same steps per member
  pbt            PBT beside a random search from the same 16 starting points (PPO CartPole-v1, lr over
                 four decades, same env steps): final population median and best, wall-clock
  pbt-replay     DQN PBT on CartPole-v1 with the replay copied at exploit and without: final returns
  cartpole-pqn   whole process to 450 of PQN beside jaxrl's DQN and SB3's DQN, seed by seed
  pong-pqn       Pong PQN training SPS for populations of 1 and 4 beside raw EnvPool and DQN; peak
                 RSS of each process beside DQN's with its 1M-transition replay
  export         `jaxrl export` of a Nature-CNN PPO Pong policy (a 1,024-step run): export time and
                 policy.onnx size; batch-1 latency of onnxruntime (CPU) beside the jitted JAX policy
  compile        each program's compile seconds in 2-iteration runs (Pong PPO/DQN/PQN, CartPole
                 PPO), cold and warm cache; the Pong PPO update with its loops kept vs unrolled
  pong-population Pong PPO populations of 1, 2, 4, 8 members beside 1 in the same run: update and
                 collect ms, whole-iteration env steps/s; the update's forms (convolutions or patch
                 matmuls, vmap or lax.map over members) at 4 members (`pong_update_forms`: GPU too)
  pong-members-update the 4-member Pong PPO update in the CPU's own form (patch matmuls, vmap;
                 lax.map beside it) against one member's, interleaved: issue 25's <= 4.6x goal
  impala         IMPALA (--lag 1) beside synchronous PPO: whole process to 475 on CartPole-v1 and env
                 steps/s, seed by seed; Breakout-v5 steady env steps/s (experiments/bench_impala.py)
  marl-update    IPPO on MPE simple_spread once compiled: ms per update of jaxrl's fused chunk and of
                 JaxMARL's ippo_ff_mpe program, in one process, interleaved (experiments/bench_marl.py)
"""

import argparse
import contextlib
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

import bench_craftax  # (experiments/ is the script's directory: first on sys.path)
import bench_impala
import bench_marl
import bench_recurrent
import benchmarks_md

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = [
    "startup", "kill-resume", "memory", "presets", "cartpole-ppo", "cartpole-a2c", "cartpole-dqn", "scaling", "sweep",
    "backends", "pong-ppo", "pong-dqn", "overlap", "mujoco-sac", "mujoco-ppo", "sac-scaling", "gymnax-rejax", "gymnax-ppo",
    "gymnax-scaling", "cartpole-pqn", "pong-pqn", "pbt", "pbt-replay", "export", "compile", "pong-population",
    "impala", "pong-members-update", "marl", "craftax", "craftax-run", "recurrent-cost", "memory-tasks", "marl-update",
]  # fmt: skip


def whole_process(
    argv: list[str], env: dict | None = None, cwd: str | None = None, timeout_s: float | None = None
) -> tuple[float, str]:
    """(wall-clock seconds, stdout) of a command. `cwd`: where it runs; `python -m` puts it first
    on sys.path, so a run of another source tree (PYTHONPATH) must not start in this repo.
    `timeout_s`: the command is killed after it (subprocess.TimeoutExpired)."""
    start = time.perf_counter()
    environment = {**os.environ, "CI": "true", **(env or {})}
    result = subprocess.run(argv, capture_output=True, text=True, env=environment, cwd=cwd, timeout=timeout_s)
    if result.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - start, result.stdout


def jaxrl_to_target(
    algo: str, seed: int, target: float, cache: str, logdir: str, tree: str | None = None, backend: str | None = None
) -> dict:
    """`tree`: run the jaxrl package of another source tree (PYTHONPATH), e.g. an older commit."""
    name = f"bench-{algo}-{seed}-{time.time_ns()}"
    argv = [sys.executable, "-m", "jaxrl.cli", "train", algo, "--env", "CartPole", "--seed", str(seed)]
    argv += ["--target-return", str(target), *(["--backend", backend] if backend else [])]
    env = {"JAXRL_CACHE_DIR": cache, **({"PYTHONPATH": tree} if tree else {})}
    wall, _ = whole_process([*argv, "--logdir", logdir, "--name", name], env, cwd=logdir)
    summary = json.loads(Path(logdir, "CartPole-v1", algo, name, "summary.json").read_text())
    run = summary["runs"][0]
    return {"wall_s": wall, "steps": run["steps_to_target"], "solved": run["steps_to_target"] is not None}


def sb3_to_targets(peer_python: str, algo: str, seed: int, targets: list[float]) -> dict[float, dict]:
    """One SB3 process that notes when it reaches each target: {target: {wall_s, steps, solved}}.
    Its clock starts before its imports, so wall_s is the whole process up to that point; an
    unreached target counts with the whole process."""
    script = str(ROOT / "experiments" / "sb3_cartpole.py")
    wall, out = whole_process([peer_python, script, algo, str(seed), ",".join(f"{t:g}" for t in targets)])
    reached = json.loads(out.strip().splitlines()[-1])
    rows = {}
    for target in targets:
        when = reached[f"{target:g}"]
        rows[target] = {"wall_s": when[1] if when else wall, "steps": when and when[0], "solved": when is not None}
    return rows


def median(rows: list[dict], key: str) -> float | None:
    values = [row[key] for row in rows if row[key] is not None]
    return statistics.median(values) if values else None


def cartpole(
    peer_python: str, algo: str, seeds: int, targets: tuple[float, ...] = (475.0,), backend: str | None = None
) -> dict:
    """jaxrl (cold, then warm cache; one process per target) and SB3 (one process for all
    targets), interleaved seed by seed. An unsolved run counts with its whole budget's time.
    `backend`: jaxrl's (SB3 steps gymnasium's CartPole-v1 either way)."""
    rows = cartpole_rows(peer_python, algo, seeds, targets, backend=backend)
    return {
        "text": "\n\n".join(cartpole_table(algo, target, seeds, rows[target]) for target in targets),
        "figures": {f"to {target:g}": cartpole_figures(rows[target]) for target in targets},
    }


def cartpole_rows(
    peer_python: str, algo: str, seeds: int, targets, learners: tuple[str, ...] = (), backend: str | None = None
) -> dict:
    """{target: {label: [result per seed]}}: SB3's `algo`, then jaxrl's `algo` (or each of
    `learners`) with a cold and a warm compilation cache, interleaved seed by seed."""
    learners = learners or (algo,)

    def label(learner: str, cache: str) -> str:
        return f"jaxrl {cache}" if learners == (algo,) else f"jaxrl {learner} {cache}"

    labels = [label(learner, cache) for learner in learners for cache in ("cold", "warm")]
    rows = {target: {"sb3": [], **{name: [] for name in labels}} for target in targets}
    with tempfile.TemporaryDirectory() as logdir:
        for seed in range(seeds):
            for target, result in sb3_to_targets(peer_python, algo, seed, list(targets)).items():
                rows[target]["sb3"].append(result)
            for target in targets:
                for learner in learners:
                    cache = tempfile.mkdtemp(prefix="jaxrl-cache-")  # a fresh, empty compilation cache
                    rows[target][label(learner, "cold")].append(
                        jaxrl_to_target(learner, seed, target, cache, logdir, backend=backend)
                    )
                    rows[target][label(learner, "warm")].append(
                        jaxrl_to_target(learner, seed, target, cache, logdir, backend=backend)
                    )
    return rows


def cartpole_pqn(peer_python: str, seeds: int) -> dict:
    """PQN beside jaxrl's DQN and SB3's DQN (rl-zoo), whole process to 450 (exploration on)."""
    rows = cartpole_rows(peer_python, "dqn", seeds, (450.0,), learners=("pqn", "dqn"))[450.0]
    pqn, dqn, sb3 = (median(rows[label], "wall_s") for label in ("jaxrl pqn warm", "jaxrl dqn warm", "sb3"))
    return {
        "text": cartpole_table("pqn and dqn", 450.0, seeds, rows)
        + f"\n\nPQN (warm cache) takes {pqn / dqn:.2f} of jaxrl DQN's time (goal <= 0.5) and {pqn / sb3:.3f} "
        "of SB3 DQN's (goal <= 0.1)",
        "figures": {"to 450": cartpole_figures(rows)},
        "goals": [
            goal("PQN's whole process to 450 (warm) <= 0.5 of jaxrl DQN's", pqn / dqn, pqn / dqn <= 0.5),
            goal("PQN's whole process to 450 (warm) <= 0.1 of SB3 DQN's", pqn / sb3, pqn / sb3 <= 0.1),
        ],
    }


def cartpole_figures(rows: dict[str, list[dict]]) -> dict:
    """{label: medians, solved runs and per-seed (wall s, steps)}; the peer's label is "sb3"."""
    return {
        label: {
            "whole_process_median_s": median(results, "wall_s"),
            "steps_median": median(results, "steps"),
            "solved": sum(r["solved"] for r in results),
            "per_seed_wall_s_steps": [[round(r["wall_s"], 3), r["steps"]] for r in results],
        }
        for label, results in rows.items()
    }


def goal(text: str, value: float, holds: bool) -> dict:
    """A goal of the issue that asked for a section, its measured value and whether it holds."""
    return {"goal": text, "value": round(value, 3), "holds": bool(holds)}


def goal_met(what: str, value: float, at_most: float) -> dict:
    """The goal `what` <= `at_most`."""
    return goal(f"{what} <= {at_most:g}", value, value <= at_most)


def cartpole_table(algo: str, target: float, seeds: int, rows: dict[str, list[dict]]) -> str:
    sb3_wall = median(rows["sb3"], "wall_s")
    lines = [
        f"| {algo.upper()} CartPole-v1 to {target:g} | whole process, median s | steps to {target:g}, median "
        "| solved | vs SB3 |",
        "|---|---|---|---|---|",
    ]
    for label, results in rows.items():
        wall = median(results, "wall_s")
        steps = median(results, "steps")
        solved = sum(r["solved"] for r in results)
        ratio = f"{sb3_wall / wall:.2f}x faster" if label != "sb3" else "1.00"
        steps_text = "not reached" if steps is None else f"{int(steps):,}"
        lines.append(f"| {label} | {wall:.2f} | {steps_text} | {solved}/{seeds} | {ratio} |")
    lines.append(
        "\nper seed (wall s, steps): "
        + "; ".join(f"{k}: {[(round(r['wall_s'], 2), r['steps']) for r in v]}" for k, v in rows.items())
    )
    return "\n".join(lines)


def import_ms(logdir: str, tree: str | None = None) -> float:
    """Milliseconds spent importing modules in `jaxrl train ppo --env CartPole` (a 2,560-step run):
    the sum of every module's own time in `python -X importtime`."""
    argv = [sys.executable, "-X", "importtime", "-m", "jaxrl.cli", "train", "ppo", "--env", "CartPole"]
    argv += ["--total-steps", "2560", "--logdir", logdir]
    env = {**os.environ, "CI": "true", **({"PYTHONPATH": tree} if tree else {})}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=True, cwd=logdir)
    fields = [
        line.split("|")[0].split(":")[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    ]
    return sum(int(field) for field in fields if field.isdigit()) / 1000  # (the first line is a header)


def startup(peer_python: str, seeds: int, repeats: int, baseline: str | None) -> dict:
    """Import time and whole process to 475 (warm compilation cache) of PPO on CartPole, beside SB3
    and, with `--baseline TREE`, beside an older source tree of jaxrl, interleaved seed by seed."""
    trees = {"jaxrl": None, **({f"jaxrl {Path(baseline).name}": baseline} if baseline else {})}
    imports = {label: [] for label in trees}
    rows = {"sb3": [], **{label: [] for label in trees}}
    with tempfile.TemporaryDirectory() as logdir:
        cache = tempfile.mkdtemp(prefix="jaxrl-cache-")
        for tree in trees.values():
            jaxrl_to_target("ppo", 0, 475.0, cache, logdir, tree)  # fills the cache: the rows below are warm
        for _ in range(repeats):
            for label, tree in trees.items():
                imports[label].append(import_ms(logdir, tree))
        for seed in range(seeds):
            rows["sb3"].append(sb3_to_targets(peer_python, "ppo", seed, [475.0])[475.0])
            for label, tree in trees.items():
                rows[label].append(jaxrl_to_target("ppo", seed, 475.0, cache, logdir, tree))
    sb3 = median(rows["sb3"], "wall_s")
    lines = ["| PPO CartPole-v1 | imports, median ms | whole process to 475, median s | vs SB3 |", "|---|---|---|---|"]
    lines.append(f"| sb3 | - | {sb3:.2f} | 1.00 |")
    for label in trees:
        wall = median(rows[label], "wall_s")
        lines.append(f"| {label} | {statistics.median(imports[label]):.0f} | {wall:.2f} | {wall / sb3:.2f} of it |")
    per_seed = "; ".join(f"{k}: {[(round(r['wall_s'], 2), r['steps']) for r in v]}" for k, v in rows.items())
    ratio = median(rows["jaxrl"], "wall_s") / sb3
    return {
        "text": "\n".join(lines) + f"\n\nimports (ms) per repeat: {imports}\nper seed (wall s, steps): {per_seed}",
        "figures": {
            "seeds": seeds,
            "repeats": repeats,
            "imports_ms_median": {label: statistics.median(values) for label, values in imports.items()},
            **cartpole_figures(rows),
        },
        "goals": [goal("jaxrl's whole process to 475 (warm) <= 1/3 of SB3's", ratio, ratio <= 1 / 3)],
    }


def kill_resume(times: int) -> dict:
    """`kill -9` a CartPole PPO run at a random moment from its very start, `times` times: every run
    dir that exists must resume (`jaxrl train --resume`) and complete."""
    import random

    rng = random.Random(0)
    rows = []
    with tempfile.TemporaryDirectory() as logdir:
        for attempt in range(times):
            name, delay = f"kill{attempt}", rng.uniform(0.0, 6.0)
            argv = [sys.executable, "-m", "jaxrl.cli", "train", "ppo", "--env", "CartPole", "--total-steps", "8192"]
            argv += ["--log-every", "512", "--checkpoint-every", "2048", "--target-return", "1000"]
            argv += ["--logdir", logdir, "--name", name]
            env = {**os.environ, "CI": "true"}
            process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=logdir)
            time.sleep(delay)
            process.kill()
            process.wait()
            run_dir = Path(logdir, "CartPole-v1", "ppo", name)
            row = {"kill_s": round(delay, 2), "run_dir": run_dir.exists(), "checkpoint": None, "resumed": None}
            if run_dir.exists():
                steps = [int(p.name) for p in (run_dir / "checkpoints").glob("*") if p.name.isdigit()]
                row["checkpoint"] = max(steps, default=0)
                resumed = subprocess.run(
                    [sys.executable, "-m", "jaxrl.cli", "train", "--resume", str(run_dir)],
                    env=env, capture_output=True, text=True, cwd=logdir,
                )  # fmt: skip
                summary = json.loads((run_dir / "summary.json").read_text()) if resumed.returncode == 0 else {}
                row["resumed"] = resumed.returncode == 0 and summary["runs"][0]["env_steps"] == 8192
            rows.append(row)
    existed = [row for row in rows if row["run_dir"]]
    before = [row for row in existed if row["checkpoint"] == 0]
    resumed = sum(bool(row["resumed"]) for row in existed)
    lines = [
        f"{times} kills at uniform(0, 6) s: {len(existed)} left a run dir ({len(before)} before its first checkpoint); "
        f"{resumed} of those resumed and completed.",
        f"per kill: {rows}",
    ]
    return {
        "text": "\n".join(lines),
        "figures": {"kills": rows},
        "goals": [goal("every run dir left resumes and completes (resumed / left)", resumed, resumed == len(existed))],
    }


def child_peak_rss(argv: list[str], cwd: str) -> float:
    """Peak RSS (bytes) of `jaxrl <argv>` in a child process, read by the child itself at its end."""
    script = (
        "import resource, sys; from jaxrl.cli import main; code = main(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *argv], capture_output=True, text=True, cwd=cwd, env={**os.environ, "CI": "true"}
    )
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    return int(result.stdout.strip().splitlines()[-1]) * 1024


def memory(buffer_size: int = 300_000) -> dict:
    """Peak RSS of Pong DQN (8 envs, learning from 80k steps: a 2,048-step run fills no more than
    it needs) with a `buffer_size` replay, checkpointed or not, each measured on its second run
    (compilation cache warm); beside the goal 1.1 x replay + 1.2 GiB, and projected to 1M."""
    from jaxrl.algos import dqn, get_algorithm
    from jaxrl.config import resolve

    algorithm = get_algorithm("dqn")

    def replay_bytes(size: int) -> int:
        config = resolve(algorithm, {"env": "Pong", "buffer_size": size})
        return dqn.replay_bytes(config.static, config.spec)

    rows = ["| Pong-v5 DQN, --buffer-size | replay | --checkpoint-replay | peak RSS | goal 1.1 x replay + 1.2 GiB |"]
    rows.append("|---|---|---|---|---|")
    gib = 2**30
    buffer = replay_bytes(buffer_size)
    overheads, peaks = [], {}
    with tempfile.TemporaryDirectory() as logdir:
        for keep in (True, False):
            argv = ["train", "dqn", "--env", "Pong-v5", "--buffer-size", str(buffer_size), "--total-steps", "2048"]
            argv += ["--log-every", "1024", "--logdir", logdir, "--checkpoint-replay", str(keep)]
            peak = [child_peak_rss(argv, logdir) for _ in range(2)][-1]
            overheads.append(peak - buffer)
            peaks[f"checkpoint_replay={keep}"] = peak
            goal = 1.1 * buffer + 1.2 * gib
            rows.append(
                f"| {buffer_size:,} | {buffer / gib:.2f} GiB | {keep} | {peak / gib:.2f} GiB | {goal / gib:.2f} GiB |"
            )
    million = replay_bytes(1_000_000)
    projected, goal = million + overheads[0], 1.1 * million + 1.2 * gib
    rows.append(f"| 1,000,000 (replay by jax.eval_shape + the overhead above) | {million / gib:.2f} GiB | True | "
                f"{projected / gib:.2f} GiB | {goal / gib:.2f} GiB |")  # fmt: skip
    figures = {"replay_bytes": buffer, "peak_rss_bytes": peaks, "projected_1m_peak_bytes": projected}
    return {
        "text": "\n".join(rows) + f"\n\noverhead beyond the replay: {[round(o / gib, 2) for o in overheads]} GiB",
        "figures": {**figures, "replay_1m_bytes": million, "goal_bytes": 1.1 * buffer + 1.2 * gib},
        "goals": [
            *(goal_met(f"peak RSS, {name}, <= 1.1 x replay + 1.2 GiB (GiB)", peak / gib, (1.1 * buffer + 1.2 * gib) / gib)
              for name, peak in peaks.items()),
            goal_met("projected peak RSS, 1M replay, <= 1.1 x replay + 1.2 GiB (GiB)", projected / gib, goal / gib),
        ],
    }  # fmt: skip


PRESET_ALGOS = ("ppo", "a2c", "reinforce", "dqn", "ddqn")


def presets(seeds: int, algos: tuple[str, ...] = PRESET_ALGOS) -> dict:
    """Every CartPole preset at 1x and 5x its step budget: steps to its target per seed (the run
    stops there); a preset must reach it at both budgets for >= 4 of 5 seeds."""
    from jaxrl.algos import get_algorithm
    from jaxrl.api import enable_compilation_cache, run
    from jaxrl.config import resolve

    enable_compilation_cache()
    lines = ["| preset | target | budget | steps to target, seeds 0.. | reached |", "|---|---|---|---|---|"]
    figures, goals = {}, []
    with tempfile.TemporaryDirectory() as logdir:
        for algo in algos:
            algorithm = get_algorithm(algo)
            base = resolve(algorithm, {"env": "CartPole", "logdir": logdir})
            for scale in (1, 5):
                steps = []
                for seed in range(seeds):
                    options = {
                        "env": "CartPole",
                        "seed": seed,
                        "total_steps": scale * base.total_steps,
                        "logdir": logdir,
                    }
                    summary = run(resolve(algorithm, options), loggers=[]).summary
                    steps.append(summary["runs"][0]["steps_to_target"])
                reached = sum(s is not None for s in steps)
                shown = ", ".join("-" if s is None else f"{s:,}" for s in steps)
                lines.append(
                    f"| {algo} | {base.target_return:g} | {scale}x = {scale * base.total_steps:,} | {shown} | {reached}/{seeds} |"
                )
                print(lines[-1], flush=True)
                figures[f"{algo} {scale}x"] = {"budget": scale * base.total_steps, "steps_to_target": steps}
                enough = -(-4 * seeds // 5)  # 4 of 5
                goals.append(
                    goal(
                        f"{algo} at {scale}x reaches {base.target_return:g} for >= {enough} of {seeds} seeds",
                        reached,
                        reached >= enough,
                    )
                )
    return {"text": "\n".join(lines), "figures": figures, "goals": goals}


def fixed_budget_seconds(trainings: dict[str, callable], repeats: int) -> dict[str, list[float]]:
    """Wall-clock of each training, compiled beforehand (one warm-up each), interleaved `repeats` times."""
    from jaxrl.api import enable_compilation_cache

    enable_compilation_cache()
    for training in trainings.values():
        training()
    times = {name: [] for name in trainings}
    for _ in range(repeats):
        for name, training in trainings.items():
            start = time.perf_counter()
            training()
            times[name].append(time.perf_counter() - start)
    return times


def fixed_budget_training(logdir: str, budget: int, sweep: dict | None = None, algo: str = "ppo", **options):
    """A training of `algo` (on CartPole unless `env=` says otherwise) at a fixed budget (no early
    stop), logging to TensorBoard: seeds, or a sweep over `sweep` ({hyperparameter: [values]})."""
    from jaxrl.algos import get_algorithm
    from jaxrl.api import run
    from jaxrl.config import resolve
    from jaxrl.logs.tensorboard import TensorBoard
    from jaxrl.search import plan

    def training():
        algorithm = get_algorithm(algo)
        settings = {"total_steps": budget, "logdir": logdir, **options}
        config = plan(algorithm, settings, sweep) if sweep else resolve(algorithm, settings)
        run(dataclasses.replace(config, target_return=None), loggers=[TensorBoard()])

    return training


def population_scaling(title: str, budget: int, size: int, goal: float, repeats: int, **options) -> dict:
    """Wall-clock of `size` members against one at the same `budget` of env steps per member
    (`options`: the training's, see fixed_budget_training), compiled first; medians of `repeats`."""
    with tempfile.TemporaryDirectory() as logdir:
        trainings = {n: fixed_budget_training(logdir, budget, seeds=n, **options) for n in (1, size)}
        times = fixed_budget_seconds(trainings, repeats)
    one, many = statistics.median(times[1]), statistics.median(times[size])
    text = (
        f"| {title}, {budget:,} steps per member | median s | env steps/s (all members) |\n|---|---|---|\n"
        f"| 1 member | {one:.2f} | {budget / one:,.0f} |\n"
        f"| {size} members, one program | {many:.2f} | {size * budget / many:,.0f} |\n"
        f"\n{size} members cost {many / one:.2f}x the wall-clock of 1 (goal <= {goal:g}x); runs: {times}"
    )
    figures = {"steps_per_member": budget, "repeats": repeats, "wall_s": {f"{n} members": times[n] for n in times}}
    return {
        "text": text,
        "figures": figures,
        "goals": [goal_met(f"{size} members / 1 member, wall-clock", many / one, goal)],
    }


def scaling(repeats: int) -> dict:
    return population_scaling("PPO CartPole", 25_600, 16, 6, repeats)


def sweep_cost(repeats: int) -> dict:
    """A 24-member sweep (lr x ent_coef x 4 seeds) vs one run, same steps per member; medians."""
    budget = 51_200
    grid = {"lr": [1e-4, 3e-4, 1e-3], "ent_coef": [0.0, 0.01]}
    with tempfile.TemporaryDirectory() as logdir:
        trainings = {
            "1 run": fixed_budget_training(logdir, budget),
            "24-member sweep": fixed_budget_training(logdir, budget, grid, seeds=4),
        }
        times = fixed_budget_seconds(trainings, repeats)
    one, sweep = statistics.median(times["1 run"]), statistics.median(times["24-member sweep"])
    text = (
        f"| PPO CartPole, {budget:,} steps per member | median s | env steps/s (all members) |\n|---|---|---|\n"
        f"| 1 run | {one:.2f} | {budget / one:,.0f} |\n"
        f"| sweep: 3 lr x 2 ent_coef x 4 seeds, one program | {sweep:.2f} | {24 * budget / sweep:,.0f} |\n"
        f"\nThe 24-member sweep costs {sweep / one:.2f}x the wall-clock of 1 run (target <= 8x); runs: {times}"
    )
    figures = {"steps_per_member": budget, "repeats": repeats, "wall_s": times}
    return {
        "text": text,
        "figures": figures,
        "goals": [goal_met("24-member sweep / 1 run, wall-clock", sweep / one, 8)],
    }


def backends(repeats: int) -> dict:
    """PPO CartPole, 51,200 steps, compiled beforehand: host gymnasium envs through io_callback vs EnvPool."""
    budget = 51_200
    with tempfile.TemporaryDirectory() as logdir:
        trainings = {name: fixed_budget_training(logdir, budget, backend=name) for name in ("envpool", "gymnasium")}
        times = fixed_budget_seconds(trainings, repeats)
    envpool, gym = statistics.median(times["envpool"]), statistics.median(times["gymnasium"])
    text = (
        f"| PPO CartPole-v1, {budget:,} steps, 8 envs | median s | env steps/s |\n|---|---|---|\n"
        f"| EnvPool | {envpool:.2f} | {budget / envpool:,.0f} |\n"
        f"| gymnasium (io_callback) | {gym:.2f} | {budget / gym:,.0f} |\n"
        f"\nThe gymnasium backend takes {gym / envpool:.2f}x EnvPool's time; runs: {times}"
    )
    return {"text": text, "figures": {"steps": budget, "repeats": repeats, "wall_s": times}}


def raw_envpool_sps(num_envs: int, repeats: int) -> float:
    """EnvPool Pong stepped from Python with random actions: the floor any learner sits on."""
    import numpy as np

    from jaxrl.envs import env_seeds
    from jaxrl.envs.envpool import registry

    pool = registry().make("Pong-v5", env_type="gymnasium", num_envs=num_envs, seed=env_seeds(0, num_envs))
    pool.reset()
    rng = np.random.default_rng(0)
    sps = []
    for _ in range(repeats):
        actions = rng.integers(0, 6, (500, num_envs))
        start = time.perf_counter()
        for action in actions:
            pool.step(action)
        sps.append(500 * num_envs / (time.perf_counter() - start))
    pool.close()
    return statistics.median(sps)


def pong_assembly(algo: str, seeds: int, **options):
    """(assembly, state, handle, hyper) for Pong with the algo's preset."""
    import numpy as np

    from jaxrl.algos import get_algorithm
    from jaxrl.api import enable_compilation_cache
    from jaxrl.config import resolve
    from jaxrl.training.assembly import assemble
    from jaxrl.training.population import seed_population

    enable_compilation_cache()
    algorithm = get_algorithm(algo)
    config = resolve(algorithm, {"env": "Pong", "seeds": seeds, **options})
    population = seed_population(algorithm, config)
    parts = assemble(config, population.seeds)
    state, handle = parts.programs.init(np.asarray(population.seeds, np.int32), population.hyper)
    return parts, state, handle, population.hyper


def pong_programs(algo: str, seeds: int, **options):
    """(programs, state, handle, hyper, env, steps per iteration) for Pong with the algo's preset."""
    parts, state, handle, hyper = pong_assembly(algo, seeds, **options)
    steps_per_iteration = parts.static.num_envs * parts.static.rollout_steps
    return parts.programs, state, handle, hyper, parts.env, steps_per_iteration


def training_sps(algo: str, seeds: int, repeats: int, iterations: int, **options) -> tuple[float, int]:
    """(median env steps/s of all members together, replay-or-agent bytes per member) for Pong."""
    import jax

    from jaxrl.core.buffers import nbytes
    from jaxrl.training.fleet import train_chunk

    programs, state, handle, hyper, env, steps_per_iteration = pong_programs(algo, seeds, **options)
    state, handle, _ = train_chunk(programs, state, handle, hyper, num_iterations=iterations)  # compile
    sps = []
    for _ in range(repeats):
        start = time.perf_counter()
        state, handle, metrics = train_chunk(programs, state, handle, hyper, num_iterations=iterations)
        jax.block_until_ready(metrics)
        sps.append(seeds * iterations * steps_per_iteration / (time.perf_counter() - start))
    env.close()
    return statistics.median(sps), nbytes(state.agent) // seeds


def pong_ppo(repeats: int) -> dict:
    """Where an iteration of Pong PPO (8 envs x 128 steps, CleanRL settings) goes: env stepping in
    the compiled rollout (random actions, no network), action selection (the rest of the rollout),
    learning; beside raw EnvPool stepped from Python, the floor any learner sits on."""
    import jax

    assembly, state, handle, hyper = pong_assembly("ppo", 1, total_steps=10_240_000)
    env, env_only = assembly.env, env_stepping(assembly)
    steps = assembly.static.num_envs * assembly.static.rollout_steps
    run = Running(assembly.programs, state, handle)

    def learn():
        run.state, metrics = assembly.programs.update(run.state, *run.traj, hyper)
        return metrics

    parts = {"env": [], "collect": [], "update": []}
    for i in range(repeats + 1):  # the first round compiles
        seconds = (timed(lambda: run.step(env_only, jax.random.PRNGKey(i))), timed(run.collect), timed(learn))  # noqa: B023
        if i:
            for name, spent in zip(parts, seconds, strict=True):
                parts[name].append(spent)
    env.close()
    env_s, collect_s, update_s = (statistics.median(parts[name]) for name in parts)
    act_s, total = collect_s - env_s, collect_s + update_s
    raw = raw_envpool_sps(8, repeats)
    rows = [("env stepping (compiled rollout, random actions)", env_s), ("action selection", act_s),
            ("learning (4 epochs x 4 minibatches)", update_s)]  # fmt: skip
    table = "\n".join(f"| {name} | {1000 * s:,.1f} | {100 * s / total:.0f}% |" for name, s in rows)
    figures = {"repeats": repeats, "iteration_steps": steps, "seconds": parts, "raw_envpool_sps": raw}
    text = (
        f"| Pong-v5 PPO, one iteration of {steps:,} env steps | ms, median | share |\n|---|---|---|\n{table}\n"
        f"| whole iteration | {1000 * total:,.1f} | 100% |\n\n"
        f"| Pong-v5, 8 envs | env steps/s, median |\n|---|---|\n"
        f"| raw EnvPool from Python, random actions | {raw:,.0f} |\n"
        f"| env stepping inside the compiled rollout | {steps / env_s:,.0f} |\n"
        f"| PPO training (rollout + learning) | {steps / total:,.0f} |\n"
        f"\ntraining / raw env = {steps / total / raw:.3f}"
    )
    return {"text": text, "figures": figures}


def timed(fn) -> float:
    """Seconds until what `fn` dispatches is ready."""
    import jax

    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def env_stepping(parts):
    """A jitted rollout's length of env steps of an assembly's pool, random actions, no network:
    (key, handle) -> handle."""
    import jax

    env, steps = parts.env, parts.static.rollout_steps

    @jax.jit
    def env_only(key, handle):
        actions = jax.random.randint(key, (steps, env.num_envs), 0, env.spec.num_actions)
        return jax.lax.scan(lambda h, a: (env.step(h, a)[0], None), handle, actions)[0]

    return env_only


def acting(parts, members: int, envs: int | None = None):
    """A jitted rollout's length of the members' acts on their first `envs` envs' frames (all by
    default), no env: (agent, obs, key) -> actions."""
    import jax

    from jaxrl.core.population import over_members, split_keys

    act = over_members(parts.agent.act, members)

    @jax.jit
    def act_only(agent, obs, key):
        def one(carry, _):  # the frames change every step: XLA cannot hoist the network out of the loop
            key, obs = carry
            key, use = split_keys(key)
            return (key, obs + 1), act(agent, obs, use)[0]

        return jax.lax.scan(one, (key, obs[:, :envs]), None, length=parts.static.rollout_steps)[1]

    return act_only


class Running:
    """An assembly's state and pool handle as timers move them on: every program that steps the
    pool (an env-only loop, a rollout, a whole iteration) hands back the handle the next one needs."""

    def __init__(self, programs, state, handle):
        self.programs, self.state, self.handle, self.traj = programs, state, handle, None

    def step(self, program, *args):
        """`program(*args, handle)` -> handle, kept."""
        self.handle = program(*args, self.handle)
        return self.handle

    def collect(self):
        """One rollout, kept as the state and handle go on: its (traj, ended)."""
        self.state, self.handle, *self.traj = self.programs.collect(self.state, self.handle)
        return self.traj

    def iterate(self, hyper):
        """One iteration as training dispatches it: its metrics."""
        self.state, self.handle, metrics = self.programs.dispatch(self.state, self.handle, hyper, 1)
        return metrics


def iteration_parts(parts, state, handle, hyper):
    """Timers of one Pong iteration's parts on an assembly: env stepping alone (the rollout's env
    steps, random actions, no network), acting alone (the rollout's acts on changing frames, no
    env), the rollout (both), learning alone, and the whole iteration as training dispatches it.
    Each returns seconds."""
    import jax

    env_only, act_only = env_stepping(parts), acting(parts, len(hyper.lr))
    run, key = Running(parts.programs, state, handle), jax.random.PRNGKey(0)

    def learn(state):
        return parts.programs.update(state, *run.traj, hyper)

    def copied_state():  # update donates its state: learning alone learns on a copy
        return jax.tree.map(jax.numpy.copy, run.state)

    return {
        "env": lambda: timed(lambda: run.step(env_only, key)),
        "act": lambda: timed(lambda: act_only(run.state.agent, run.state.obs, run.state.key)),
        "collect": lambda: timed(run.collect),
        "learn": lambda: (state := copied_state()) is not None and timed(lambda: learn(state)),
        "whole": lambda: timed(lambda: run.iterate(hyper)),
    }


def pong_pool(num_envs: int, first: int = 0, **options):
    """EnvPool's Pong-v5, envs `first`... of 8 (their seeds as training's 8 envs get them)."""
    from jaxrl.envs import env_seeds
    from jaxrl.envs.envpool import registry

    seeds = env_seeds(0, 8)[first : first + num_envs]
    return registry().make("Pong-v5", env_type="gymnasium", num_envs=num_envs, seed=seeds, **options)


def busy(ms: float) -> None:
    """Holds a core for `ms` milliseconds, as a device's act would."""
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


def stepping_ways(repeats: int, act_ms: float = 1.0, steps: int = 300) -> str:
    """Pong, 8 envs, random actions, from Python: one synchronous pool, 2 pools of 4 received and
    sent in turn, EnvPool's asynchronous mode (batches of 4); with no act, and with a busy-wait
    of `act_ms` per step (half per batch of 4) holding a core as the device's act would."""
    import numpy as np

    rng = np.random.default_rng(0)

    def synchronous(ms):
        envs = pong_pool(8)
        envs.reset()

        def run():
            for _ in range(steps):
                busy(ms)
                envs.step(rng.integers(0, 6, 8))

        return [envs], run

    def in_turn(ms):
        pools = [pong_pool(4), pong_pool(4, first=4)]
        for envs in pools:
            envs.reset()

        def run():
            for envs in pools:
                envs.send(rng.integers(0, 6, 4))
            for _ in range(steps):
                for envs in pools:
                    envs.recv()
                    busy(ms / 2)
                    envs.send(rng.integers(0, 6, 4))
            for envs in pools:
                envs.recv()

        return pools, run

    def asynchronous(ms):
        envs = pong_pool(8, batch_size=4)

        def run():
            envs.async_reset()
            for _ in range(2 * steps):
                info = envs.recv()[-1]
                busy(ms / 2)
                envs.send(rng.integers(0, 6, 4), info["env_id"])

        return [envs], run

    ways = {
        "one synchronous pool": synchronous,
        "2 pools of 4 in turn": in_turn,
        "asynchronous, batches of 4": asynchronous,
    }
    sps = {(name, ms): [] for name in ways for ms in (0.0, act_ms)}
    for _ in range(repeats):
        for name, way in ways.items():
            for ms in (0.0, act_ms):
                pools, run = way(ms)
                start = time.perf_counter()
                run()
                sps[name, ms].append(8 * steps / (time.perf_counter() - start))
                for envs in pools:
                    envs.close()
    lines = [f"| Pong-v5, 8 envs, env steps/s | no act | {act_ms:g} ms act per step |", "|---|---|---|"]
    lines += [
        f"| {name} | {statistics.median(sps[name, 0.0]):,.0f} | {statistics.median(sps[name, act_ms]):,.0f} |"
        for name in ways
    ]
    return "\n".join(lines)


def overlap(repeats: int, configs: dict[str, dict] | None = None, env: str = "Pong") -> dict:
    """Pong PPO (1 member, its preset: 8 envs x 128 steps), one iteration's env stepping, acting,
    learning and whole cost for each env-stepping setting, interleaved round by round; how much of
    min(env, device) the whole iteration hides, and the goal: whole <= 1.1 x max(env, learn) + act."""
    import os

    cores = len(os.sched_getaffinity(0))
    configs = configs or {
        "one synchronous pool (today)": {},
        f"one pool, {cores} EnvPool threads": {"env_threads": cores},
        "2 pipelined pools": {"env_groups": 2},
        f"2 pipelined pools, {cores} threads in all": {"env_groups": 2, "env_threads": cores},
    }
    built = {
        label: pong_assembly("ppo", 1, env=env, total_steps=10**8, **options) for label, options in configs.items()
    }
    seconds = interleaved_parts({label: iteration_parts(*pieces) for label, pieces in built.items()}, repeats)
    for parts, *_ in built.values():
        parts.env.close()
    work = in_child("iteration_work", repeats, env=env)[0]
    lagged = in_child("lagged_updates", repeats, env=env)[0]
    lines = [
        f"| {env} PPO, one iteration | env | act | rollout | hidden of min(env, act) | learn | whole "
        "| env+act+learn | hidden of min(env, act+learn) | 1.1 x max(env, learn) + act | met | rounds met |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    goals = []
    for label, parts in seconds.items():
        env, act, rollout, learn, whole = (1000 * statistics.median(parts[part]) for part in parts)
        bound = 1.1 * max(env, learn) + act
        # each round against its own parts: the medians above mix rounds, and one round can be slow in all
        rounds = zip(*(parts[part] for part in ("env", "act", "learn", "whole")), strict=True)
        rounds_met = sum(w <= 1.1 * max(e, lr) + a for e, a, lr, w in rounds)
        lines.append(
            f"| {label} | {env:,.1f} | {act:,.1f} | {rollout:,.1f} | {100 * (env + act - rollout) / min(env, act):.0f}% "
            f"| {learn:,.1f} | {whole:,.1f} | {env + act + learn:,.1f} "
            f"| {100 * (env + act + learn - whole) / min(env, act + learn):.0f}% | {bound:,.1f} "
            f"| {'yes' if whole <= bound else 'no'} | {rounds_met} of {len(parts['whole'])} |"
        )
        goals.append(goal_met(f"{label}: whole iteration, ms, <= 1.1 x max(env, learn) + act", whole, bound))
    text = "\n".join(lines) + f"\n\nms, medians of {repeats} interleaved rounds; {cores} cores.\n\n"
    row, goal_row = lagged_row(lagged, seconds[next(iter(seconds))])
    text += row + "\n\n"
    goals.append(goal_row)
    text += work_floor(work, seconds[next(iter(seconds))], cores) + "\n\n"
    figures = {"seconds": seconds, "one_core_seconds": work, "cores": cores, "lagged": lagged}
    return {"text": text + stepping_ways(repeats), "figures": figures, "goals": goals}


def lagged_updates(repeats: int, env: str = "Pong") -> dict[str, list[float]]:
    """PPO --lag 1 on the actor-learner with the Pong preset: the seconds of each steady-state
    learner update (its chunks of one update timed back to back, the actors running on as in a long
    run; the first two, which compile and find unrolls collected ahead, are not kept) and the
    learner's wait for its unrolls in each."""
    from jaxrl.algos import get_algorithm
    from jaxrl.api import enable_compilation_cache
    from jaxrl.config import resolve
    from jaxrl.training.actor_learner import runner_for
    from jaxrl.training.population import seed_population

    enable_compilation_cache()
    algorithm = get_algorithm("ppo")
    config = resolve(algorithm, {"env": env, "lag": 1, "total_steps": 10**8})
    runner = runner_for(config)(config, seed_population(algorithm, config), 0)
    seconds, waits = [], []
    try:
        runner.init()
        for _ in range(2 + 2 * repeats):
            start = time.perf_counter()
            metrics = runner.train_chunk(1)
            seconds.append(time.perf_counter() - start)
            waits.append(float(metrics["charts/queue_wait_s"][0, 0]))
    finally:
        runner.close()
    return {"update": seconds[2:], "queue_wait": waits[2:]}


def lagged_row(lagged: dict[str, list[float]], synchronous: dict[str, list[float]]) -> tuple[str, dict]:
    """The actor-learner's steady update against the bound of the synchronous pool's parts measured
    in the same run: (a table, its goal)."""
    update, wait = (1000 * statistics.median(lagged[part]) for part in ("update", "queue_wait"))
    env, act, learn = (1000 * statistics.median(synchronous[part]) for part in ("env", "act", "learn"))
    bound = 1.1 * max(env, learn) + act
    text = (
        "| PPO --lag 1, actor-learner, ms per learner update (1,024 env steps) | update | of it waiting for unrolls "
        "| learn alone | 1.1 x max(env, learn) + act | met |\n|---|---|---|---|---|---|\n"
        f"| median of {len(lagged['update'])} steady updates | {update:,.1f} | {wait:,.1f} | {learn:,.1f} | {bound:,.1f} "
        f"| {'yes' if update <= bound else 'no'} |"
    )
    return text, goal_met(
        "PPO --lag 1 on the actor-learner: ms per update, <= 1.1 x max(env, learn) + act", update, bound
    )


def interleaved_parts(timers: dict[str, dict], repeats: int) -> dict[str, dict[str, list[float]]]:
    """{label: {part: seconds of each round}} of `iteration_parts` timers, round by round (round 0,
    which compiles, is not kept)."""
    seconds = {label: {part: [] for part in timer} for label, timer in timers.items()}
    for round_ in range(repeats + 1):
        for label, timer in timers.items():
            for part, fn in timer.items():
                spent = fn()
                if round_:
                    seconds[label][part].append(spent)
    return seconds


def iteration_work(repeats: int, env: str = "Pong") -> dict[str, list[float]]:
    """The one synchronous pool's iteration parts timed in this process pinned to one core before
    XLA or EnvPool start a thread: each part's work, with nothing overlapped and no second core spun."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    built = pong_assembly("ppo", 1, env=env, total_steps=10**8)
    seconds = interleaved_parts({"one core": iteration_parts(*built)}, repeats)["one core"]
    built[0].env.close()
    return seconds


def work_floor(work: dict[str, list[float]], parts: dict[str, list[float]], cores: int) -> str:
    """The least a lag-free iteration can take on `cores` cores: learning (as measured on all of
    them) cannot start before the rollout ends nor the next rollout before it, so only the
    rollout's env and act work can share the cores; against the goal's bound."""
    env, act, rollout, learn, whole = (1000 * statistics.median(work[part]) for part in work)
    learn_here, act_here, env_here = (1000 * statistics.median(parts[part]) for part in ("learn", "act", "env"))
    floor = learn_here + (env + act) / cores
    bound = 1.1 * max(env_here, learn_here) + act_here
    return (
        "| one synchronous pool, work on one core, ms | env | act | rollout | learn | whole |\n|---|---|---|---|---|---|\n"
        f"| pinned to one core | {env:,.1f} | {act:,.1f} | {rollout:,.1f} | {learn:,.1f} | {whole:,.1f} |\n\n"
        f"Lag-free floor on {cores} cores: learn {learn_here:,.1f} + (env + act work) / {cores} = {floor:,.1f} ms, "
        f"against the bound {bound:,.1f} ms: {bound - floor:,.1f} ms left for the rollout's imperfect sharing "
        "of the cores and every host overhead."
    )


def pong_dqn(repeats: int) -> dict:
    """DQN with its Pong preset (8 envs x 16 steps, 32 gradient steps per rollout), learning from the
    start, a 100k-transition replay per member; populations of 1 and 4 in one program each."""
    options = {"learning_starts": 0, "buffer_size": 100_000}
    rows = {seeds: training_sps("dqn", seeds, repeats, iterations=8, **options) for seeds in (1, 4)}
    raw = raw_envpool_sps(8, repeats)
    (one, agent_bytes), (four, _) = rows[1], rows[4]
    figures = {"repeats": repeats, "raw_envpool_sps": raw, "sps": {"1 member": one, "4 members": four}}
    text = (
        "| Pong-v5 DQN, 8 envs per member | env steps/s of all members, median |\n|---|---|\n"
        f"| raw EnvPool, random actions | {raw:,.0f} |\n| 1 member | {one:,.0f} |\n| 4 members, one program | {four:,.0f} |\n"
        f"\n4 members train {four / one:.2f}x the env steps/s of 1 (4 = perfect amortisation); "
        f"agent state per member {agent_bytes / 2**20:,.0f} MiB (100k transitions)"
    )
    return {"text": text, "figures": {**figures, "agent_state_bytes_per_member": agent_bytes}}


def jaxrl_population(algo: str, env: str, seeds: int, steps: int, logdir: str, *flags: str) -> dict:
    """A whole `jaxrl train` process of `seeds` members at `steps` each: wall-clock, final returns."""
    name = f"bench-{algo}-{env}-{time.time_ns()}"
    argv = [sys.executable, "-m", "jaxrl.cli", "train", algo, "--env", env, "--seeds", str(seeds)]
    argv += ["--total-steps", str(steps), "--logdir", logdir, "--name", name, *flags]
    wall, _ = whole_process(argv, cwd=logdir)
    summary = json.loads(Path(logdir, env, algo, name, "summary.json").read_text())
    return {"wall_s": wall, "returns": [run["final_return"] for run in summary["runs"]]}


def sb3_mujoco(peer_python: str, algo: str, env: str, seed: int, steps: int, learning_starts: int | None) -> dict:
    script = str(ROOT / "experiments" / "sb3_mujoco.py")
    starts = [] if learning_starts is None else [str(learning_starts)]
    _, out = whole_process([peer_python, script, algo, env, str(seed), str(steps), *starts])
    return json.loads(out.strip().splitlines()[-1])


def mujoco_row(algo: str, env: str, steps: int, peer_python: str, seeds: int, learning_starts=None) -> tuple[str, dict]:
    """SB3 with one seed, then jaxrl with `seeds` in one population: one table row, and the figures.
    `learning_starts` (SAC) replaces both presets' (a throughput check on a short budget)."""
    from jaxrl.analysis.statistics import iqm

    flags = [] if learning_starts is None else ["--learning-starts", str(learning_starts)]
    with tempfile.TemporaryDirectory() as logdir:
        sb3 = sb3_mujoco(peer_python, algo, env, 0, steps, learning_starts)
        ours = jaxrl_population(algo, env, seeds, steps, logdir, *flags)
    ratio = ours["wall_s"] / sb3["wall_s"]
    per_seed = sb3["wall_s"] * seeds / ours["wall_s"]
    figures = {
        "steps": steps,
        "sb3, 1 seed": sb3,
        f"jaxrl, {seeds} seeds": {**ours, "iqm": float(iqm(ours["returns"]))},
    }
    return (
        f"| {algo.upper()} {env}, {steps:,} steps | SB3, 1 seed: {sb3['wall_s']:,.0f} s, return {sb3['final_return']:.0f} "
        f"| jaxrl, {seeds} seeds: {ours['wall_s']:,.0f} s, IQM {float(iqm(ours['returns'])):.0f} "
        f"({', '.join(f'{r:.0f}' for r in ours['returns'])}) | {ratio:.2f} of SB3's wall-clock, "
        f"{per_seed:.1f}x its per-seed throughput |"
    ), figures


MUJOCO_HEADER = "| run | peer | jaxrl | wall-clock |\n|---|---|---|---|\n"


def mujoco_sac(peer_python: str, seeds: int, steps: int | None, learning_starts: int | None) -> dict:
    """Whole processes, SB3 first (~30 min for 100k steps on 2 quiet cores), then jaxrl; final
    return: the mean of the last 20 training episodes of each seed. Issue 15's goals hold only
    for its run: 100k steps, both presets' learning_starts."""
    row, figures = mujoco_row("sac", "HalfCheetah-v4", steps or 100_000, peer_python, seeds, learning_starts)
    goals = []
    if steps is None and learning_starts is None:
        sb3, ours = figures["sb3, 1 seed"], figures[f"jaxrl, {seeds} seeds"]
        goals.append(goal_met("jaxrl's wall-clock / SB3's", ours["wall_s"] / sb3["wall_s"], 0.5))
        floor = sb3["final_return"] - 0.1 * abs(sb3["final_return"])
        goals.append(goal(f"jaxrl's final-return IQM >= SB3's - 10% ({floor:.0f})", ours["iqm"], ours["iqm"] >= floor))
    return {"text": MUJOCO_HEADER + row, "figures": figures, "goals": goals}


def mujoco_ppo(peer_python: str, seeds: int, steps: int | None) -> dict:
    rows = {
        env: mujoco_row("ppo", env, steps or 1_000_000, peer_python, seeds) for env in ("HalfCheetah-v4", "Hopper-v4")
    }
    return {
        "text": MUJOCO_HEADER + "\n".join(row for row, _ in rows.values()),
        "figures": {env: figures for env, (_, figures) in rows.items()},
    }


def sac_scaling(repeats: int) -> dict:
    """SAC's Pendulum preset; 3,000 of the 4,000 steps per member learn."""
    return population_scaling(
        "SAC Pendulum-v1", 4_000, 16, 6, repeats, algo="sac", env="Pendulum-v1", learning_starts=1000
    )


# The peers' budgets: rejax's configs/gymnax/cartpole.yaml and benchmark/breakout_1m.yaml; jaxrl
# trains its preset, and on Breakout-MinAtar also rejax's network (two 64-64 tanh MLPs).
GYMNAX_CASES = [
    ("CartPole-v1", 100_000, "preset", {}),
    ("Breakout-MinAtar", 1_000_000, "rejax's network", {"cnn": False, "shared_torso": False}),
    ("Breakout-MinAtar", 1_000_000, "preset (MinAtar CNN)", {}),
    # rejax's two layers of 64, at the table tuned for them before the preset's one layer
    ("CartPole-v1", 100_000, "rejax's network", {"hidden": [64, 64], "update_epochs": 2, "num_minibatches": 4, "lr": 3e-3}),
]  # fmt: skip


def timed_process(argv: list[str], env: dict | None = None) -> tuple[float, float, dict]:
    """(wall s, CPU s of the process: user + sys, its last stdout line as JSON)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, out = whole_process(argv, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, json.loads(out.strip().splitlines()[-1])


def gymnax_rejax(rejax_python: str, seeds: int, repeats: int, cases=None, baseline: str | None = None) -> dict:
    """Whole process (training every seed in one program, then 16 greedy games per seed) of rejax
    and of jaxrl (an empty compilation cache, then warm), interleaved repeat by repeat; medians of
    wall-clock and CPU seconds, returns of the last repeat (deterministic). `baseline`: another
    jaxrl source tree, timed the same way in the same repeats (its rows say \"baseline\")."""
    from jaxrl.analysis.statistics import iqm

    lines = [
        f"| PPO, {seeds} seeds, one program | budget | wall s, median | CPU s, median | greedy return per seed "
        "| IQM | wall vs rejax | CPU vs rejax |",
        "|---|---|---|---|---|---|---|---|",
    ]
    peers = {}  # env -> [(wall, cpu, out)]: one rejax run per repeat serves every jaxrl case of the env
    shown, goals, figures = set(), [], {}
    with tempfile.TemporaryDirectory() as logdir:
        for env, budget, label, flags in cases or GYMNAX_CASES:
            runs = {"cold": [], "warm": []} | ({"baseline, cold": [], "baseline, warm": []} if baseline else {})
            for _ in range(repeats):
                if len(peers.setdefault(env, [])) < repeats:
                    peers[env].append(
                        timed_process([rejax_python, str(ROOT / "experiments" / "rejax_peer.py"), env, str(seeds)])
                    )
                cache = tempfile.mkdtemp(prefix="jaxrl-cache-", dir=logdir)  # empty: the cold run compiles
                base_cache = tempfile.mkdtemp(prefix="jaxrl-cache-", dir=logdir)
                ours = [
                    sys.executable,
                    str(ROOT / "experiments" / "gymnax_run.py"),
                    env,
                    str(seeds),
                    str(budget),
                    logdir,
                ]
                for kind in runs:
                    tree = {"JAXRL_CACHE_DIR": cache} if "baseline" not in kind else {"JAXRL_CACHE_DIR": base_cache}
                    if "baseline" in kind:  # (the child imports jaxrl from PYTHONPATH's tree first)
                        tree["PYTHONPATH"] = str(Path(baseline).resolve())
                    runs[kind].append(timed_process([*ours, "16", json.dumps(flags)], tree))
            rows = {f"jaxrl {label}, {kind}": r for kind, r in runs.items()}
            if env not in shown:  # the peer's row once per env
                rows, shown = {"rejax 0.1.3": peers[env], **rows}, shown | {env}
            peer_wall, peer_cpu = (statistics.median(run[i] for run in peers[env]) for i in (0, 1))
            for name, measured in rows.items():
                wall, cpu = (statistics.median(run[i] for run in measured) for i in (0, 1))
                returns = measured[-1][2]["returns"]
                per_seed = " / ".join(f"{r:.1f}" for r in returns)
                lines.append(
                    f"| {env}: {name} | {budget:,} | {wall:.1f} | {cpu:.1f} | {per_seed} | {iqm(returns):.1f} "
                    f"| {wall / peer_wall:.2f}x | {cpu / peer_cpu:.2f}x |"
                )
                figures[f"{env}: {name}"] = {"wall_s": wall, "cpu_s": cpu, "greedy_returns": returns}
            peer_iqm, ours_iqm = (iqm(measured[-1][2]["returns"]) for measured in (peers[env], runs["warm"]))
            warm_wall = statistics.median(run[0] for run in runs["warm"])
            goals.append(goal_met(f"{env}: jaxrl {label}, warm, wall / rejax's", warm_wall / peer_wall, 0.7))
            cold_cpu = statistics.median(run[1] for run in runs["cold"])  # issue 25's goal: cold too
            goals.append(goal_met(f"{env}: jaxrl {label}, cold, CPU / rejax's", cold_cpu / peer_cpu, 0.7))
            goals.append(
                goal(f"{env}: jaxrl {label}: greedy IQM >= rejax's {peer_iqm:.1f}", ours_iqm, ours_iqm >= peer_iqm)
            )
    text = (
        "\n".join(lines)
        + f"\n\n{repeats} repeats. goal: jaxrl's whole process <= 0.7x rejax's, its greedy IQM >= rejax's"
    )
    return {"text": text, "figures": {"seeds": seeds, "repeats": repeats, **figures}, "goals": goals}


def gymnax_scaling(repeats: int) -> dict:
    return population_scaling("PPO gymnax CartPole-v1", 25_600, 64, 8, repeats, backend="gymnax")


# A task whose random search mostly fails in the budget: a learning rate below ~1e-4 does not
# learn CartPole in 51k steps, and half of a log-uniform draw over 1e-6..1e-2 lies there.
PBT_TASK = dict(env="CartPole-v1", total_steps=51_200, target_return=1e9, lr=(1e-6, 1e-2, "log"), ent_coef=(0.0, 0.05))


def pbt_search(repeats: int) -> dict:
    """PPO, 16 members: `jaxrl sweep --random 16` and `jaxrl pbt --population 16` (ready every
    5,120 env steps, the defaults otherwise) start from the same 16 points (both sample them
    with the run's seed), train the same env steps, seed by seed (seed r: repetition r), in one
    process whose compilation cache is warm. Final return: each member's mean of its last 20
    episodes at the end."""
    import numpy as np

    from jaxrl import api
    from jaxrl.analysis.statistics import bootstrap_ci

    def finals(summary):
        return [run["final_return"] if run["final_return"] is not None else 0.0 for run in summary["runs"]]

    lines = [
        "| seed | random search: median, best, members >= 475 | PBT: median, best, members >= 475 | "
        "PBT / random median | wall-clock s: random, PBT |",
        "|---|---|---|---|---|",
    ]
    pooled = {"random": [], "pbt": []}
    walls = {"random": [], "pbt": []}
    with tempfile.TemporaryDirectory() as logdir:
        api.sweep("ppo", random=16, seed=99, logdir=logdir, name="warm-up", **PBT_TASK)  # fills the cache
        for seed in range(repeats):
            search = api.sweep("ppo", random=16, seed=seed, logdir=logdir, name=f"random-{seed}", **PBT_TASK)
            pbt = api.pbt(
                "ppo", population=16, ready_every=5120, seed=seed, logdir=logdir, name=f"pbt-{seed}", **PBT_TASK
            )
            row = {}
            for label, result in (("random", search.summary), ("pbt", pbt.summary)):
                values = np.asarray(finals(result))
                pooled[label] += list(values)
                walls[label].append(result["wall_s"])
                row[label] = (float(np.median(values)), float(values.max()), int((values >= 475).sum()))
            ratio = row["pbt"][0] / max(row["random"][0], 1e-9)
            lines.append(
                f"| {seed} | {row['random'][0]:.1f}, {row['random'][1]:.1f}, {row['random'][2]}/16 | "
                f"{row['pbt'][0]:.1f}, {row['pbt'][1]:.1f}, {row['pbt'][2]}/16 | {ratio:.2f} | "
                f"{walls['random'][-1]:.1f}, {walls['pbt'][-1]:.1f} |"
            )
    summary = []
    for label in ("random", "pbt"):
        estimate = bootstrap_ci(np.asarray(pooled[label]))
        summary.append(
            f"{label}: IQM of all {len(pooled[label])} final returns {estimate.value:.1f} "
            f"[{estimate.low:.1f}, {estimate.high:.1f}], median {np.median(pooled[label]):.1f}"
        )
    cost = statistics.median(walls["pbt"]) / statistics.median(walls["random"])
    text = (
        "\n".join(lines)
        + "\n\n"
        + "; ".join(summary)
        + f"\n\nPBT's wall-clock: {cost:.2f}x the random search's (goal <= 1.1x)"
    )
    figures = {"repeats": repeats, "wall_s": walls, "final_returns": pooled}
    return {"text": text, "figures": figures, "goals": [goal_met("PBT / random search, wall-clock", cost, 1.1)]}


def pbt_replay(repeats: int) -> dict:
    """DQN, 8 members from the same points (lr over three decades), CartPole-v1's DQN preset
    for 60k env steps, ready every 10k: exploit copying the parent's replay or keeping the
    child's own, seed by seed. Final return: the mean of each member's last 20 episodes."""
    import numpy as np

    from jaxrl import api
    from jaxrl.analysis.statistics import iqm

    task = dict(env="CartPole-v1", total_steps=60_000, target_return=1e9, lr=(1e-5, 1e-2, "log"))
    lines = [
        "| seed | copy_replay | median | IQM | best | members >= 450 | wall-clock s |",
        "|---|---|---|---|---|---|---|",
    ]
    medians = {True: [], False: []}
    with tempfile.TemporaryDirectory() as logdir:
        for seed in range(repeats):
            for copy in (True, False):
                result = api.pbt(
                    "dqn", population=8, ready_every=10_000, copy_replay=copy, seed=seed, logdir=logdir,
                    name=f"replay-{copy}-{seed}", **task,
                ).summary  # fmt: skip
                values = np.asarray([run["final_return"] or 0.0 for run in result["runs"]])
                medians[copy].append(float(np.median(values)))
                lines.append(
                    f"| {seed} | {copy} | {np.median(values):.1f} | {iqm(values):.1f} | {values.max():.1f} | "
                    f"{int((values >= 450).sum())}/8 | {result['wall_s']:.1f} |"
                )
    summary = ", ".join(f"copy_replay={copy}: {statistics.median(medians[copy]):.1f}" for copy in (True, False))
    text = "\n".join(lines) + f"\n\nmedian of the per-seed population medians: {summary}"
    return {"text": text, "figures": {f"copy_replay={copy}: population medians": medians[copy] for copy in medians}}


def in_child(function: str, *args, environment: dict | None = None, timeout_s: float | None = None, **kwargs):
    """`function(*args, **kwargs)` of this file run in a fresh Python process (with `environment`
    added to its environment variables): (its result, peak RSS of that process in bytes, its RSS
    at the end in bytes). The peak includes XLA's compiler. `timeout_s`: see whole_process."""
    code = (
        f"import json, resource, sys; sys.path.insert(0, {str(ROOT / 'experiments')!r}); import bench; "
        f"result = bench.{function}(*{args!r}, **{kwargs!r}); peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
        "now = [int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmRSS')][0]; "
        "print(json.dumps([result, peak * 1024, now * 1024]))"
    )
    _, out = whole_process([sys.executable, "-c", code], environment, timeout_s=timeout_s)
    return json.loads(out.strip().splitlines()[-1])


def pong_pqn(repeats: int) -> dict:
    """PQN with its Pong preset (128 envs x 32 steps per rollout, 2 epochs x 32 minibatches of 128):
    training SPS of 1 member and of 4 in one program, beside raw EnvPool Pong (128 envs) and DQN
    (its preset, learning from the start, a 100k replay); each in its own process, whose peak RSS
    is set beside DQN's with its 1M-transition replay: measured at 100k, plus the other 900k
    transitions' bytes (`jax.eval_shape` of the replay, exact)."""
    from jaxrl.algos import dqn
    from jaxrl.core.types import EnvSpec

    rows = {
        "PQN, 1 member": in_child("training_sps", "pqn", 1, repeats, iterations=1),
        "PQN, 4 members, one program": in_child("training_sps", "pqn", 4, max(1, repeats - 1), iterations=1),
        "DQN, 1 member (100k replay)": in_child(
            "training_sps", "dqn", 1, repeats, iterations=8, learning_starts=0, buffer_size=100_000
        ),
    }
    raw = raw_envpool_sps(128, repeats)
    spec = EnvSpec("Pong-v5", (4, 84, 84), "uint8", 6, frame_stack=4)
    replay_1m, replay_100k = (dqn.replay_bytes(dqn.Static(num_envs=8, buffer_size=n), spec) for n in (10**6, 10**5))
    (_, dqn_peak, dqn_end) = rows["DQN, 1 member (100k replay)"]
    gib = 2**30
    lines = [
        "| Pong-v5, presets | env steps/s of all members, median | peak RSS, GiB | RSS at the end, GiB |",
        "|---|---|---|---|",
        f"| raw EnvPool, 128 envs, random actions | {raw:,.0f} | - | - |",
    ]
    for label, ((sps, _), peak, end) in rows.items():
        lines.append(f"| {label} | {sps:,.0f} | {peak / gib:.2f} | {end / gib:.2f} |")
    lines.append(
        f"| DQN, 1 member, 1M replay (100k measured + {(replay_1m - replay_100k) / gib:.2f} GiB) | - "
        f"| {(dqn_peak + replay_1m - replay_100k) / gib:.2f} | {(dqn_end + replay_1m - replay_100k) / gib:.2f} |"
    )
    (one, _), _, _ = rows["PQN, 1 member"]
    (four, _), _, _ = rows["PQN, 4 members, one program"]
    (dqn_sps, _), _, _ = rows["DQN, 1 member (100k replay)"]
    text = "\n".join(lines) + (
        f"\n\nPQN trains {one / dqn_sps:.2f}x DQN's env steps/s and {one / raw:.3f} of raw EnvPool's; 4 members "
        f"train {four / one:.2f}x the env steps/s of 1 (4 = perfect amortisation). DQN's 1M replay: "
        f"{replay_1m / gib:.2f} GiB."
    )
    figures = {
        label: {"sps": sps, "peak_rss_bytes": peak, "end_rss_bytes": end}
        for label, ((sps, _), peak, end) in rows.items()
    }
    return {
        "text": text,
        "figures": {"repeats": repeats, "raw_envpool_sps": raw, "replay_1m_bytes": replay_1m, **figures},
    }


def export_latency(repeats: int, calls: int = 100) -> dict:
    """A Nature-CNN PPO policy (Pong, one 1,024-step iteration) exported `repeats` times (whole
    `jaxrl export` process, and restore + convert in process); then, interleaved 5 x `repeats`
    times, `calls` single-observation calls of onnxruntime's session (default threads, and one),
    of the jitted greedy policy (obs -> action and outputs, block_until_ready) and of
    `jaxrl.load(run_dir)`: the median block and the fastest (the least disturbed by other work)."""
    import jax
    import numpy as np
    import onnxruntime

    import jaxrl
    from jaxrl.exporter import folder as policy_folder
    from jaxrl.training.evaluation import restore_member

    logdir = tempfile.mkdtemp()
    run_dir = jaxrl.train("ppo", env="Pong-v5", total_steps=1024, logdir=logdir, name="export").run_dir
    argv = [sys.executable, "-m", "jaxrl.cli", "export", str(run_dir), "--episodes", "0", "--force"]
    process_s = [whole_process(argv)[0] for _ in range(repeats)]
    convert_s = [jaxrl.export(run_dir, force=True, episodes=0)["export_s"] for _ in range(repeats)]
    onnx_path = run_dir / "policy-s0" / "policy.onnx"
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # a pool of one: no threads to wake for a batch of one
    single = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    config = jaxrl.api.saved_config(run_dir, None, "load")
    policy = jax.jit(policy_folder.greedy_policy(restore_member(config, run_dir, 0)))
    loaded = jaxrl.load(run_dir)
    obs = np.random.default_rng(0).integers(0, 256, (1, 4, 84, 84), dtype=np.uint8)
    contenders = {
        "onnxruntime session.run": lambda: session.run(None, {"obs": obs}),
        "onnxruntime, intra_op_num_threads=1": lambda: single.run(None, {"obs": obs}),
        "jitted JAX policy (same outputs)": lambda: jax.block_until_ready(policy(obs)),
        "jaxrl.load(run_dir)(obs)": lambda: loaded(obs),
    }
    times = {name: [] for name in contenders}
    for call in contenders.values():
        call()  # compiled and warm
    for _ in range(5 * repeats):  # short blocks, many: a busy machine's bursts fall into few of them
        for name, call in contenders.items():
            start = time.perf_counter()
            for _ in range(calls):
                call()
            times[name].append((time.perf_counter() - start) / calls * 1e3)
    onnx_ms = statistics.median(times["onnxruntime session.run"])
    onnx_best = min(times["onnxruntime session.run"])
    rows = [
        f"| {name} | {statistics.median(ms):.3f} | {statistics.median(ms) / onnx_ms:.2f} | {min(ms):.3f} "
        f"| {min(ms) / onnx_best:.2f} |"
        for name, ms in times.items()
    ]
    figures = {"policy_onnx_bytes": onnx_path.stat().st_size, "export_process_s": process_s, "convert_s": convert_s}
    text = "\n".join([
        f"policy.onnx: {onnx_path.stat().st_size / 2**20:.2f} MiB; `jaxrl export` whole process "
        f"{statistics.median(process_s):.2f} s, restore + convert in process {statistics.median(convert_s):.2f} s "
        f"(medians of {repeats})",
        "",
        f"| batch-1 call ({calls} calls x {5 * repeats} blocks, interleaved) | ms per call, median block "
        "| x onnxruntime | fastest block | x onnxruntime |",
        "|---|---|---|---|---|",
        *rows,
    ])  # fmt: skip
    return {"text": text, "figures": {**figures, "batch_1_ms_per_call_per_block": times}}


def update_compile_and_run(algo: str, env: str, repeats: int, **options) -> dict:
    """The update program of `algo` on `env` (its preset, one member), compiled here with no
    persistent cache (as JAXRL_UNROLL asks: loops kept or unrolled): seconds to trace, lower and
    compile, its temporaries (XLA's memory analysis) and the median seconds of one call."""
    import jax
    import numpy as np

    from jaxrl.algos import get_algorithm
    from jaxrl.config import resolve
    from jaxrl.training.assembly import assemble
    from jaxrl.training.population import seed_population

    algorithm = get_algorithm(algo)
    config = resolve(algorithm, {"env": env, **options})
    population = seed_population(algorithm, config)
    parts = assemble(config, population.seeds)
    programs, hyper = parts.programs, population.hyper
    state, handle = programs.init(np.asarray(population.seeds, np.int32), hyper)
    state, handle, traj, ended = programs.collect(state, handle)
    stages, clocks = {}, (time.perf_counter, time.process_time)  # wall and CPU (every thread's)
    last = [clock() for clock in clocks]

    def lap(stage: str) -> None:
        now = [clock() for clock in clocks]
        stages[stage], stages[f"{stage}_cpu"] = (round(b - a, 2) for a, b in zip(last, now, strict=True))
        last[:] = now

    traced = programs.update.trace(state, traj, ended, hyper)
    lap("trace")
    lowered = traced.lower()
    lap("lower")
    compiled = lowered.compile()
    lap("compile")
    runs = []
    for _ in range(repeats + 1):  # the first call warms up
        started = time.perf_counter()
        state, metrics = compiled(state, traj, ended, hyper)
        jax.block_until_ready(metrics)
        runs.append(time.perf_counter() - started)
        state, handle, traj, ended = programs.collect(state, handle)
    parts.env.close()
    temp = compiled.memory_analysis().temp_size_in_bytes
    return {**stages, "run_s": round(statistics.median(runs[1:]), 3), "temp_bytes": temp}


def unroll_forms(algo: str, repeats: int) -> dict[str, list[float]]:
    """Seconds of one call of `algo`'s Pong update (its preset, one member) with its gradient
    loops kept and unrolled, both built in this process (JAXRL_UNROLL is read when the agent is
    built) and called in turn on one rollout, `repeats` rounds: {form: [seconds]}."""
    import jax
    import numpy as np

    from jaxrl.algos import get_algorithm
    from jaxrl.config import resolve
    from jaxrl.training.assembly import assemble
    from jaxrl.training.population import seed_population

    algorithm = get_algorithm(algo)
    config = resolve(algorithm, {"env": "Pong"})
    population = seed_population(algorithm, config)
    forms, chosen = {}, os.environ.get("JAXRL_UNROLL")
    for unroll in ("loops", "unrolled"):
        os.environ["JAXRL_UNROLL"] = unroll
        parts = assemble(config, population.seeds)
        state, handle = parts.programs.init(np.asarray(population.seeds, np.int32), population.hyper)
        state, _, traj, ended = jax.block_until_ready(parts.programs.collect(state, handle))
        parts.env.close()
        update = parts.programs.update.lower(state, traj, ended, population.hyper).compile()
        state, _ = jax.block_until_ready(update(state, traj, ended, population.hyper))  # warms up
        forms[unroll] = [update, state, traj, ended]
    if chosen is None:  # as it was
        del os.environ["JAXRL_UNROLL"]
    else:
        os.environ["JAXRL_UNROLL"] = chosen
    times = {unroll: [] for unroll in forms}
    for _ in range(repeats):
        for unroll, (update, state, traj, ended) in forms.items():
            start = time.perf_counter()
            forms[unroll][1], _ = jax.block_until_ready(update(state, traj, ended, population.hyper))
            times[unroll].append(round(time.perf_counter() - start, 3))
    return times


# (algo, env, env steps): two iterations of each preset (DQN's learns from its first step)
COMPILE_RUNS = [
    ("ppo", "Pong", 2048, ()), ("dqn", "Pong", 256, ("--learning-starts", "0", "--buffer-size", "10000")),
    ("pqn", "Pong", 8192, ()), ("ppo", "CartPole", 2048, ()),
]  # fmt: skip


def compiled_run(algo: str, env: str, steps: int, flags: tuple, cache: str, logdir: str, unroll: str = "auto") -> dict:
    """A whole `jaxrl train` process: its wall-clock and its summary's compile_s."""
    name = f"compile-{algo}-{time.time_ns()}"
    argv = [sys.executable, "-m", "jaxrl.cli", "train", algo, "--env", env, "--total-steps", str(steps), *flags]
    wall, _ = whole_process(
        [*argv, "--logdir", logdir, "--name", name], {"JAXRL_CACHE_DIR": cache, "JAXRL_UNROLL": unroll}, cwd=logdir
    )
    summary = json.loads(next(Path(logdir).glob(f"*/{algo}/{name}/summary.json")).read_text())
    return {"wall_s": wall, **summary["compile_s"]}


def compile_times(repeats: int, cases: list[int] | None = None) -> dict:
    """Each program's seconds to trace + lower + compile in a whole 2-iteration run, cold (an empty
    persistent cache) then warm (the same run again), median over `repeats` fresh caches; and, when
    all COMPILE_RUNS run (no `cases`), the Pong PPO update compiled alone with its loops kept (a
    GPU's program) and unrolled (XLA:CPU's): compile seconds, wall and CPU, its temporaries and the
    seconds of one call."""
    lines = [
        "| run | cache | whole process, s | compiling, s (sum) | " + " | ".join(["collect", "update", "chunk", "init", "other"])
        + " |", "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    figures: dict = {"repeats": repeats}
    goals = []
    for algo, env, steps, flags in [COMPILE_RUNS[i] for i in cases] if cases else COMPILE_RUNS:
        rows = {"cold": [], "warm": []}
        figures[f"{algo} {env}, {steps:,} steps"] = rows
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as logdir:
                for kind in rows:
                    rows[kind].append(compiled_run(algo, env, steps, flags, cache, logdir))
        for kind, runs in rows.items():

            def seconds(program, runs=runs):
                return statistics.median(sum(r.get(program, {}).values()) if program in r else 0.0 for r in runs)

            cells = " | ".join(f"{seconds(p):.2f}" for p in ("collect", "update", "chunk", "init", "other"))
            lines.append(
                f"| {algo} {env}, {steps:,} steps | {kind} | {median(runs, 'wall_s'):.1f} "
                f"| {median(runs, 'total'):.2f} | {cells} |"
            )
        if (algo, env) == ("ppo", "Pong"):
            warm = median(rows["warm"], "total")
            goals.append(goal_met("a second identical Pong PPO run's compile_s.total, median s", warm, 3))
    if cases:
        return {"text": "\n".join(lines), "figures": figures, "goals": goals}
    lines += ["", "| Pong PPO update alone | trace, s | lower, s | compile, s (CPU s) | temporaries, MiB | one call, s |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for unroll in ("loops", "unrolled"):
        result, _, _ = in_child("update_compile_and_run", "ppo", "Pong", repeats, environment={"JAXRL_UNROLL": unroll})
        lines.append(
            f"| {unroll} | {result['trace']:.2f} | {result['lower']:.2f} | {result['compile']:.2f} "
            f"({result['compile_cpu']:.1f}) | {result['temp_bytes'] / 2**20:,.0f} | {result['run_s']:.3f} |"
        )
        figures[f"Pong PPO update alone, {unroll}"] = result
    return {"text": "\n".join(lines), "figures": figures, "goals": goals}


@contextlib.contextmanager
def update_form(as_matmuls: bool, in_sequence: bool):
    """Programs built inside compute the Nature CNN's convolutions as patch matmuls or with lax's
    convolution, and map agent functions over members with `lax.map` (in sequence) or `vmap`,
    whatever the backend would choose."""
    from jaxrl.core import networks, population

    chosen = networks.convolutions_as_matmuls, population.members_in_sequence
    networks.convolutions_as_matmuls = lambda: as_matmuls
    population.members_in_sequence = lambda: in_sequence
    try:
        yield
    finally:
        networks.convolutions_as_matmuls, population.members_in_sequence = chosen


def update_memory_bytes(programs, state, traj, ended, hyper) -> int:
    """What the compiled update holds at once: its arguments, outputs and temporaries."""
    memory = programs.update.lower(state, traj, ended, hyper).compile().memory_analysis()
    return memory.argument_size_in_bytes + memory.output_size_in_bytes + memory.temp_size_in_bytes


def pong_iterations(setups: dict, repeats: int) -> dict[str, dict[str, float]]:
    """{label: {collect_s, update_s}}, medians of `repeats` iterations of each Pong program set
    (`pong_programs`' first five values), interleaved label by label; the first round compiles."""
    import jax

    times = {label: {"collect_s": [], "update_s": []} for label in setups}
    for i in range(repeats + 1):
        for label, (programs, state, handle, hyper, _) in setups.items():
            start = time.perf_counter()
            state, handle, traj, ended = jax.block_until_ready(programs.collect(state, handle))
            collected = time.perf_counter()
            state, _ = jax.block_until_ready(programs.update(state, traj, ended, hyper))
            setups[label] = (programs, state, handle, hyper, setups[label][4])
            if i:
                times[label]["collect_s"].append(collected - start)
                times[label]["update_s"].append(time.perf_counter() - collected)
    return {label: {name: statistics.median(row) for name, row in parts.items()} for label, parts in times.items()}


def pong_update_forms(members: int, repeats: int, forms: dict[str, bool] | None = None) -> str:
    """Pong PPO's update (preset: 8 envs x 128 steps per member, 4 epochs x 4 minibatches) of one
    member and of `members` in one program, in each form (lax's convolutions or patch matmuls; vmap
    or lax.map over members; the grouped convolution of vmap over lax's convolutions is today's
    form on GPUs), interleaved: medians and the ratio to one member in the same form. On any
    backend: a GPU script calls it. `forms`: {label: as patch matmuls}, default both."""
    import jax

    forms = forms or {"convolutions": False, "patch matmuls": True}
    setups, labels = {}, {}
    for name, as_matmuls in forms.items():
        for size, in_sequence in ((1, False), (members, False), (members, True)):
            if size == 1 and in_sequence:
                continue
            with update_form(as_matmuls, in_sequence):
                programs, state, handle, hyper, env, _ = pong_programs("ppo", size, total_steps=10_240_000)
                state, handle, traj, ended = programs.collect(state, handle)
                state, _ = jax.block_until_ready(programs.update(state, traj, ended, hyper))  # traced in the form
            env.close()
            label = f"{name}, " + (
                "1 member" if size == 1 else f"{size} members, " + ("lax.map" if in_sequence else "vmap")
            )
            setups[label], labels[label] = (programs, state, traj, ended, hyper), (name, size)
    times = {label: [] for label in setups}
    for _ in range(repeats):
        for label, (programs, state, traj, ended, hyper) in setups.items():
            start = time.perf_counter()
            state, _ = jax.block_until_ready(programs.update(state, traj, ended, hyper))
            times[label].append(time.perf_counter() - start)
            setups[label] = (programs, state, traj, ended, hyper)
    medians = {label: statistics.median(row) for label, row in times.items()}
    one = {name: medians[f"{name}, 1 member"] for name in forms}
    rows = [f"| {label} | {1000 * s:,.0f} | {s / one[labels[label][0]]:.2f}x |" for label, s in medians.items()]
    return (
        f"| Pong-v5 PPO update, {jax.default_backend()} | ms, median | x one member, same form |\n|---|---|---|\n"
        + "\n".join(rows)
    )


def pong_members_update(repeats: int, members: int = 4) -> dict:
    """The issue-25 goal on this CPU: a `members`-member Pong PPO update in the form the CPU uses
    (the Nature CNN as patch matmuls, members vmapped; lax.map beside it) against one member's,
    interleaved. Leaves out lax's-convolution forms, which take minutes to compile here."""
    text = pong_update_forms(members, repeats, {"patch matmuls": True})
    row = next(line for line in text.splitlines() if f"{members} members, vmap" in line)
    ratio = float(row.split("|")[-2].strip().rstrip("x"))
    goal = {"goal": f"{members}-member update <= 4.6x one member's (CPU)", "value": ratio, "holds": ratio <= 4.6}
    return {"text": text, "figures": {"repeats": repeats, "ratio_vmap": ratio}, "goals": [goal]}


def pong_population(repeats: int, sizes: tuple[int, ...] = (2, 4, 8), memory_limit: float = 5 * 2**30) -> dict:
    """Pong PPO (its preset) with populations of `sizes` members in one program each, each set beside
    one member in the same run (interleaved): collect and update ms, and env steps/s of all members
    together over whole iterations; then the update's forms at 4 members (`pong_update_forms`). A
    population whose update would hold more than `memory_limit` bytes (compiled memory analysis)
    is skipped and said so."""
    setups, skipped = {}, []
    for size in (1, *sizes):
        programs, state, handle, hyper, env, _ = pong_programs("ppo", size, total_steps=10_240_000)
        state, handle, traj, ended = programs.collect(state, handle)
        held = update_memory_bytes(programs, state, traj, ended, hyper)
        if held > memory_limit:
            skipped.append(f"\n{size} members: the update would hold {held / 2**30:.1f} GiB, skipped")
            env.close()
            continue
        setups[size] = (programs, state, handle, hyper, env)
        print(f"population of {size}: the update holds {held / 2**30:.2f} GiB", flush=True)
    times = pong_iterations(setups, repeats)
    for *_, env in setups.values():
        env.close()
    one = times[1]
    lines = [
        "| Pong-v5 PPO, 8 envs x 128 steps per member | collect ms | update ms | update / one member's "
        "| env steps/s, all members | x one member's |",
        "|---|---|---|---|---|---|",
    ]
    for size, row in times.items():
        sps, one_sps = size * 1024 / (row["collect_s"] + row["update_s"]), 1024 / (one["collect_s"] + one["update_s"])
        lines.append(
            f"| {size} member{'s' * (size > 1)} | {1000 * row['collect_s']:,.0f} | {1000 * row['update_s']:,.0f} "
            f"| {row['update_s'] / one['update_s']:.2f}x | {sps:,.0f} | {sps / one_sps:.2f}x |"
        )
    text = "\n".join(lines + skipped) + "\n\n" + pong_update_forms(4, repeats)
    return {
        "text": text,
        "figures": {"repeats": repeats, "seconds_median": {f"{n} members": row for n, row in times.items()}},
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=SECTIONS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--peer-python", default=sys.executable, help="a Python with stable-baselines3")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--presets-seeds", type=int, default=5, help="presets: seeds per preset and budget")
    parser.add_argument(
        "--baseline", help="startup, gymnax-rejax: also time the jaxrl of this source tree (a git worktree)"
    )
    parser.add_argument("--mujoco-steps", type=int, help="mujoco-sac, mujoco-ppo: steps per seed (default 100k, 1M)")
    parser.add_argument(
        "--learning-starts", type=int, help="mujoco-sac: both SACs' learning_starts (a throughput check)"
    )
    parser.add_argument(
        "--gymnax-cases", type=int, nargs="*", help="gymnax-rejax: indices into GYMNAX_CASES (default: all)"
    )
    parser.add_argument(
        "--compile-cases",
        type=int,
        nargs="*",
        help="compile: indices into COMPILE_RUNS (default: all, and the update alone)",
    )
    parser.add_argument("--rejax-python", default=str(ROOT / ".venv-rejax" / "bin" / "python"), help="rejax's Python")
    parser.add_argument(
        "--jaxmarl-script", help="marl: JaxMARL's baselines/IPPO/ippo_ff_mpe.py (its repo, not the wheel)"
    )
    parser.add_argument("--jaxmarl-path", default="", help="marl: PYTHONPATH for it (jaxmarl, distrax, hydra-core)")
    parser.add_argument(
        "--craftax-run", metavar="RUN_DIR", help="craftax-run: a Craftax run's dir (finished or still going)"
    )
    parser.add_argument(
        "--memory-tasks", nargs="*", default=list(bench_recurrent.TASKS), help="memory-tasks: which envs"
    )
    parser.add_argument("--results", type=Path, default=benchmarks_md.RESULTS, help="where each section's JSON goes")
    parser.add_argument("--render", action="store_true", help="only regenerate BENCHMARKS.md from the result files")
    return parser.parse_args()


def sections(args: argparse.Namespace) -> dict:
    """{section name: a function that runs it with the command line's settings}."""
    return {
        "startup": lambda: startup(args.peer_python, args.seeds, args.repeats, args.baseline),
        "kill-resume": lambda: kill_resume(20),
        "memory": memory,
        "presets": lambda: presets(args.presets_seeds),
        "cartpole-ppo": lambda: cartpole(args.peer_python, "ppo", args.seeds),
        "cartpole-a2c": lambda: cartpole(args.peer_python, "a2c", args.seeds),
        "cartpole-dqn": lambda: cartpole(args.peer_python, "dqn", args.seeds, (400.0, 450.0)),
        "scaling": lambda: scaling(args.repeats),
        "sweep": lambda: sweep_cost(args.repeats),
        "backends": lambda: backends(args.repeats),
        "pong-ppo": lambda: pong_ppo(args.repeats),
        "pong-dqn": lambda: pong_dqn(args.repeats),
        "overlap": lambda: overlap(args.repeats),
        "mujoco-sac": lambda: mujoco_sac(args.peer_python, args.seeds, args.mujoco_steps, args.learning_starts),
        "mujoco-ppo": lambda: mujoco_ppo(args.peer_python, args.seeds, args.mujoco_steps),
        "sac-scaling": lambda: sac_scaling(args.repeats),
        "gymnax-rejax": lambda: gymnax_rejax(
            args.rejax_python,
            max(args.seeds, 5),
            args.repeats,
            [GYMNAX_CASES[i] for i in args.gymnax_cases] if args.gymnax_cases else None,
            args.baseline,
        ),
        "gymnax-ppo": lambda: cartpole(args.peer_python, "ppo", args.seeds, backend="gymnax"),
        "gymnax-scaling": lambda: gymnax_scaling(args.repeats),
        "cartpole-pqn": lambda: cartpole_pqn(args.peer_python, args.seeds),
        "pong-pqn": lambda: pong_pqn(args.repeats),
        "pbt": lambda: pbt_search(args.repeats),
        "pbt-replay": lambda: pbt_replay(args.repeats),
        "export": lambda: export_latency(args.repeats),
        "compile": lambda: compile_times(args.repeats, args.compile_cases),
        "pong-population": lambda: pong_population(args.repeats),
        "pong-members-update": lambda: pong_members_update(args.repeats),
        "impala": lambda: bench_impala.impala(args.seeds, args.repeats),
        "marl": lambda: bench_marl.marl(args.seeds, args.repeats, args.jaxmarl_script, args.jaxmarl_path),
        "craftax": lambda: bench_craftax.craftax(args.repeats),
        "craftax-run": lambda: bench_craftax.craftax_run(args.craftax_run),
        "recurrent-cost": lambda: bench_recurrent.recurrent_cost(args.repeats, pong_programs, pong_iterations),
        "memory-tasks": lambda: bench_recurrent.memory_tasks(args.memory_tasks),
        "marl-update": lambda: bench_marl.marl_update(args.seeds, args.repeats, args.jaxmarl_script, args.jaxmarl_path),
    }


def main() -> None:
    args = parse_args()
    if args.render:
        sys.exit(benchmarks_md.main([]))
    import jax

    from jaxrl.api import enable_compilation_cache

    enable_compilation_cache()  # before JAX's backend starts, so that its XLA flags apply here as in a run
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"jax {jax.__version__} on {jax.devices()[0].device_kind}"
    )
    runs = sections(args)
    for name in args.only:
        output = runs[name]()
        print(f"\n### {name}\n\n{output['text'] if isinstance(output, dict) else output}", flush=True)
        path = benchmarks_md.write_result(name, sys.argv[1:], output, args.results)
        print(f"\n(written to {path})", flush=True)


if __name__ == "__main__":
    main()
