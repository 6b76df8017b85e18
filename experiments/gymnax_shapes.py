"""What a gymnax CartPole PPO shape costs to run (issue 25): the running seconds of the pure
program (`jaxrl.make_train`, 5 seeds vmapped, 100k steps each), compiled once per shape, then run
`--repeats` times interleaved shape by shape (the machine is shared: medians, and the fastest
repeat, which contention cannot inflate). Each shape is a JSON object of preset overrides; the
first is the reference of the ratios. Adds its rows to experiments/results/<id>.json.

  python experiments/gymnax_shapes.py --id gymnax-shapes-issue-25 \\
      '{"hidden": [64, 64], "update_epochs": 2, "num_minibatches": 4, "lr": 3e-3}' '{}'
"""

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from experiments.benchmarks_md import record_sweep  # noqa: E402

COLUMNS = ["overrides of the preset", "run s, median", "run s, fastest", "vs the first, median", "repeats"]
SEEDS = 5


def timings(shapes: list[dict], steps: int, repeats: int) -> list[list[float]]:
    """Running seconds per shape and repeat: every shape compiled first, then run in turns."""
    import jax

    from jaxrl.functional import make_train

    keys = jax.random.split(jax.random.key(0), SEEDS)
    programs = []
    for overrides in shapes:
        train, hyper = make_train("ppo", "CartPole-v1", total_steps=steps, **overrides)
        programs.append((jax.jit(jax.vmap(train, in_axes=(0, None))).lower(keys, hyper).compile(), hyper))
    seconds: list[list[float]] = [[] for _ in shapes]
    for _ in range(repeats):
        for times, (program, hyper) in zip(seconds, programs, strict=True):
            start = time.perf_counter()
            jax.block_until_ready(program(keys, hyper))
            times.append(time.perf_counter() - start)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--id", required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--total-steps", type=int, default=100_000, help="steps per seed")
    parser.add_argument("shapes", nargs="+", help="JSON objects of preset overrides, one shape each")
    args = parser.parse_args(argv)
    shapes = [json.loads(shape) for shape in args.shapes]
    seconds = timings(shapes, args.total_steps, args.repeats)
    first = statistics.median(seconds[0])
    points = [
        {"overrides": shape, "run_s": times, "median_s": statistics.median(times), "fastest_s": min(times)}
        for shape, times in zip(shapes, seconds, strict=True)
    ]
    rows = [
        [json.dumps(p["overrides"]), f"{p['median_s']:.3f}", f"{p['fastest_s']:.3f}",
         f"{p['median_s'] / first:.2f}x", str(args.repeats)]
        for p in points
    ]  # fmt: skip
    title = f"PPO gymnax CartPole-v1: running seconds per shape, {SEEDS} seeds x {args.total_steps:,} steps (issue 25)"
    notes = "machine shared with other work; compiled once per shape, then run in turns; no compile in the seconds"
    quoted = [shlex.quote(arg) for arg in (sys.argv[1:] if argv is None else argv)]  # the JSON shapes
    record_sweep("gymnax_shapes.py", quoted, args.id, title, (COLUMNS, rows), points, notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
