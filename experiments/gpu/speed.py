"""Every GPU measurement of issue 25 in one run of at most 9 minutes, printed as markdown tables:

    python3 experiments/gpu/speed.py [--budget-s 540] [--only overlap steady compile]

  overlap   Pong PPO, 1 member: env stepping, acting, learning and whole iteration (`bench.py
            --only overlap`), one synchronous pool beside pipelined pools
  steady    Pong PPO steady env steps/s and GPU busy % (nvidia-smi, sampled while it trains):
            1 member with 8 envs (one pool, 2 pipelined), 16 and 32 envs (what a 16-core
            `[atari.cores.16]` preset would choose), 4 members with 8 envs each (one pool, 2
            pipelined); 4 members' throughput over 1 member's; the programs' cold compile seconds
  compile   cold compile seconds of Pong DQN's and PQN's programs (PPO's are in `steady`)

A measurement is one function in SECTIONS, given the seconds left and returning its table: add
one there (the members' update scaling, say). Each stops starting new rows when its share of the
budget is spent, so the run always ends with what it measured. The compilation cache is a fresh
folder: every first compile is cold. On CPU, `--env CartPole-v1 --budget-s 300` tries it small.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "experiments")]
os.environ.setdefault("JAXRL_CACHE_DIR", tempfile.mkdtemp(prefix="jaxrl-xla-"))  # cold: a fresh cache

import bench  # noqa: E402 (the bench's sections, with the paths above)

# (label, members, envs per member, env groups): the rows of `steady`, in the order they run
STEADY = [
    ("1 member, 8 envs, one pool", 1, 8, 1),
    ("1 member, 8 envs, 2 pipelined pools", 1, 8, 2),
    ("4 members, 8 envs each, one pool", 4, 8, 1),
    ("4 members, 8 envs each, 2 pipelined pools", 4, 8, 2),
    ("1 member, 16 envs, 2 pipelined pools", 1, 16, 2),
    ("1 member, 32 envs, 2 pipelined pools", 1, 32, 2),
]


class GpuBusy:
    """The GPU's utilisation (% of time a kernel ran), sampled by nvidia-smi every 100 ms while
    the context is open; `percent` is their mean, None without nvidia-smi."""

    def __enter__(self):
        self.samples: list[float] = []
        try:
            self.process = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "100"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        except FileNotFoundError:
            self.process = None
            return self
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()
        return self

    def read(self):
        for line in self.process.stdout:
            if line.strip().isdigit():
                self.samples.append(float(line))

    def __exit__(self, *_):
        if self.process is not None:
            self.process.terminate()
            self.process.wait()

    @property
    def percent(self) -> float | None:
        return statistics.mean(self.samples) if self.samples else None


def compiled_seconds(parts, state, handle, hyper) -> tuple[float, float]:
    """(collect, update) lower + compile seconds, each program once (the cache folder is fresh,
    so the first compile of a shape is cold); the jitted functions then find them compiled."""
    start = time.perf_counter()
    collect = parts.programs.collect.lower(state, handle).compile()
    collect_s = time.perf_counter() - start
    state_after, _, traj, ended = collect.out_info
    start = time.perf_counter()
    parts.programs.update.lower(state_after, traj, ended, hyper).compile()
    return collect_s, time.perf_counter() - start


def steady_row(env: str, members: int, envs: int, groups: int, seconds: float) -> dict:
    """One row of `steady`: compile seconds, then env steps/s of all members over `seconds` of
    training after a warm-up chunk, with the GPU's busy %."""
    import jax

    from jaxrl.training.fleet import train_chunk

    options = dict(num_envs=envs, env_groups=groups, total_steps=10**8)
    parts, state, handle, hyper = bench.pong_assembly("ppo", members, env=env, **options)
    try:
        collect_s, update_s = compiled_seconds(parts, state, handle, hyper)
        steps = members * envs * parts.static.rollout_steps
        state, handle, _ = train_chunk(parts.programs, state, handle, hyper, 2)  # warm
        iterations, start = 0, time.perf_counter()
        with GpuBusy() as busy:
            while time.perf_counter() - start < seconds:
                state, handle, metrics = train_chunk(parts.programs, state, handle, hyper, 4)
                jax.block_until_ready(metrics)
                iterations += 4
        sps = iterations * steps / (time.perf_counter() - start)
    finally:
        parts.env.close()
    return dict(sps=sps, busy=busy.percent, collect_s=collect_s, update_s=update_s)


def steady(seconds_left: float, env: str) -> str:
    lines = [
        f"| {env} PPO | env steps/s, all members | GPU busy % | cold compile s: collect, update |",
        "|---|---|---|---|",
    ]
    results, window = {}, max(5.0, min(20.0, seconds_left / len(STEADY) / 3))
    deadline = time.perf_counter() + seconds_left
    for label, members, envs, groups in STEADY:
        if time.perf_counter() + 3 * window > deadline:
            lines.append(f"| {label} | skipped: budget spent | | |")
            continue
        row = results[members, envs, groups] = steady_row(env, members, envs, groups, window)
        busy = "n/a" if row["busy"] is None else f"{row['busy']:.0f}"
        lines.append(f"| {label} | {row['sps']:,.0f} | {busy} | {row['collect_s']:.1f}, {row['update_s']:.1f} |")
        print(lines[-1], flush=True)
    for groups, grouping in ((1, "one pool"), (2, "2 pipelined pools")):
        one, four = (results.get((members, 8, groups)) for members in (1, 4))
        if one and four:
            lines.append(
                f"\n4 members / 1 member, 8 envs each, {grouping}: {four['sps'] / one['sps']:.2f}x (goal >= 3x)"
            )
    return "\n".join(lines)


def compile_others(seconds_left: float, env: str) -> str:
    lines = [f"| {env}, cold | collect s | update s |", "|---|---|---|"]
    deadline = time.perf_counter() + seconds_left
    for algo in ("dqn", "pqn"):
        if time.perf_counter() + 60 > deadline:
            lines.append(f"| {algo} | skipped: budget spent | |")
            continue
        parts, state, handle, hyper = bench.pong_assembly(algo, 1, env=env, total_steps=10**8)
        try:
            collect_s, update_s = compiled_seconds(parts, state, handle, hyper)
        finally:
            parts.env.close()
        lines.append(f"| {algo} | {collect_s:.1f} | {update_s:.1f} |")
    return "\n".join(lines)


def overlap(seconds_left: float, env: str) -> str:
    return bench.overlap(repeats=3, env=env)["text"]


# name -> (share of the budget, function(seconds, env id) -> table)
SECTIONS = {"overlap": (0.25, overlap), "steady": (0.55, steady), "compile": (0.2, compile_others)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget-s", type=float, default=540.0, help="the whole run's seconds (default 9 minutes)")
    parser.add_argument("--only", nargs="*", default=list(SECTIONS), choices=list(SECTIONS))
    parser.add_argument("--env", default="Pong-v5", help="CartPole-v1 tries the script small on a CPU")
    args = parser.parse_args()
    import jax

    from jaxrl.api import enable_compilation_cache

    enable_compilation_cache()  # before JAX's backend starts, as bench.py's main does
    start = time.perf_counter()
    print(f"{jax.devices()[0].device_kind}, {len(os.sched_getaffinity(0))} cores, jax {jax.__version__}", flush=True)
    shares = sum(SECTIONS[name][0] for name in args.only)
    for name in args.only:
        share, section = SECTIONS[name]
        left = args.budget_s - (time.perf_counter() - start)
        print(f"\n### {name}\n\n{section(min(left, args.budget_s * share / shares), args.env)}", flush=True)
    print(f"\nwhole run: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
