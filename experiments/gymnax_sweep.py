"""PPO's ["gymnax:CartPole-v1"] table (issue 25): which shape (envs x steps per rollout, epochs x
minibatches, the MLP's widths) still plays greedy 500 on every seed at 100k steps; what each
costs to run is `gymnax_shapes.py`'s (on a CPU the running time follows the arithmetic per
sample, not the count of sequential steps: BENCHMARKS "gymnax CartPole: one hidden layer"). One
`jaxrl.sweep` over lr at one shape, every point's seeds in one program, then each seed's mean
greedy return over 16 games (`jaxrl.evaluate`: what bench.py's gymnax-rejax section scores).
Each invocation adds its points as rows of experiments/results/<id>.json.

  python experiments/gymnax_sweep.py --id gymnax-sweep-issue-25 --epochs 2 --minibatches 4 --lr 2e-3,3e-3
  python experiments/gymnax_sweep.py --id gymnax-shape-issue-25 --num-envs 32 --rollout-steps 16 \
      --epochs 2 --minibatches 4 --lr 3e-3,6e-3
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from experiments.benchmarks_md import record_sweep, sweep_parser  # noqa: E402

COLUMNS = [
    "envs x steps",
    "hidden (shared: one torso)",
    "epochs x minibatches (samples each)",
    "lr",
    "seeds",
    "greedy return per seed",
    "seeds at 500",
    "program wall s (all points)",
]
EPISODES = 16


def sweep(args: argparse.Namespace, lrs: list[float]) -> list[dict]:
    """One program: len(lrs) points x `args.seeds` seeds (the preset's other settings); per point,
    each seed's mean greedy return."""
    import jaxrl

    seed, seeds = args.seed, args.seeds
    shape = dict(update_epochs=args.epochs, num_minibatches=args.minibatches, seed=seed, seeds=seeds)
    hidden = tuple(int(width) for width in args.hidden.split(",")) if args.hidden else None
    rollout = dict(num_envs=args.num_envs, rollout_steps=args.rollout_steps, hidden=hidden, shared_torso=args.shared)
    shape |= {name: value for name, value in rollout.items() if value is not None}  # None: the preset's
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as logdir:
        # a target no member reaches: the whole budget is trained, as the benchmark trains it
        result = jaxrl.sweep(
            "ppo", env="CartPole-v1", backend="gymnax", lr=lrs, target_return=1e9, logdir=logdir, loggers=[],
            total_steps=args.total_steps, **shape,
        )  # fmt: skip
        wall = time.perf_counter() - start
        members = jaxrl.evaluate(result.run_dir, episodes=EPISODES)["members"]
    returns = [sum(member["returns"]) / EPISODES for member in members.values()]  # point-major
    static = result.config.static
    return [
        {
            "num_envs": static.num_envs,
            "rollout_steps": static.rollout_steps,
            "hidden": list(static.hidden),
            "shared_torso": static.shared_torso,
            "epochs": static.update_epochs,
            "minibatches": static.num_minibatches,
            "minibatch": static.num_envs * static.rollout_steps // static.num_minibatches,
            "lr": lr,
            "seeds": list(range(seed, seed + seeds)),
            "steps": args.total_steps,
            "wall_s": wall,
            "greedy_returns": returns[point * seeds : (point + 1) * seeds],
        }  # fmt: skip
        for point, lr in enumerate(lrs)
    ]


def row(point: dict) -> list[str]:
    returns, seeds = point["greedy_returns"], point["seeds"]
    return [
        f"{point['num_envs']} x {point['rollout_steps']}",
        "-".join(str(width) for width in point["hidden"]) + (" shared" if point.get("shared_torso") else ""),
        f"{point['epochs']} x {point['minibatches']} ({point['minibatch']})",
        f"{point['lr']:g}",
        f"{seeds[0]}-{seeds[-1]}",
        " / ".join(f"{r:.0f}" for r in returns),
        f"{sum(r >= 500 for r in returns)}/{len(returns)}",
        f"{point['wall_s']:.0f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = sweep_parser(__doc__, seed=0, seeds=10, total_steps=100_000)
    parser.add_argument("--num-envs", type=int, default=None, help="default: the preset's")
    parser.add_argument("--rollout-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--hidden", help="comma-separated MLP widths (default: the preset's)")
    parser.add_argument("--shared", action=argparse.BooleanOptionalAction, help="one torso (default: the preset's)")
    args = parser.parse_args(argv)
    points = sweep(args, [float(lr) for lr in args.lr.split(",")])
    table = (COLUMNS, [row(point) for point in points])
    title = "PPO gymnax CartPole-v1 update shapes and lr (issue 25)"
    notes = "machine shared with other work; wall s: the whole program, every point's seeds, no evaluation"
    record_sweep("gymnax_sweep.py", argv, args.id, title, table, points, notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
