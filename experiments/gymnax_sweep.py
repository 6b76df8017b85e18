"""PPO's ["gymnax:CartPole-v1"] table (issue 25): which update shape (epochs x minibatches) costs
the fewest sample-gradients and still plays greedy 500 on every seed at 100k steps. One
`jaxrl.sweep` over lr at one shape, every point's seeds in one program, then each seed's mean
greedy return over 16 games (`jaxrl.evaluate`: what bench.py's gymnax-rejax section scores).
Each invocation adds its points as rows of experiments/results/<id>.json.

  python experiments/gymnax_sweep.py --id gymnax-sweep-issue-25 --epochs 2 --minibatches 4 --lr 2e-3,3e-3
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from experiments.benchmarks_md import record_sweep, sweep_parser  # noqa: E402

COLUMNS = [
    "epochs x minibatches (samples each)",
    "lr",
    "seeds",
    "greedy return per seed",
    "seeds at 500",
    "program wall s (all points)",
]
EPISODES = 16


def sweep(epochs: int, minibatches: int, lrs: list[float], seed: int, seeds: int, steps: int) -> list[dict]:
    """One program: len(lrs) points x `seeds` seeds (the preset's other settings); per point,
    each seed's mean greedy return."""
    import jaxrl

    shape = dict(update_epochs=epochs, num_minibatches=minibatches, seed=seed, seeds=seeds, total_steps=steps)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as logdir:
        # a target no member reaches: the whole budget is trained, as the benchmark trains it
        result = jaxrl.sweep(
            "ppo", env="CartPole-v1", backend="gymnax", lr=lrs, target_return=1e9, logdir=logdir, loggers=[], **shape
        )
        wall = time.perf_counter() - start
        members = jaxrl.evaluate(result.run_dir, episodes=EPISODES)["members"]
    returns = [sum(member["returns"]) / EPISODES for member in members.values()]  # point-major
    batch = result.config.static.num_envs * result.config.static.rollout_steps // minibatches
    return [
        {
            "epochs": epochs,
            "minibatches": minibatches,
            "minibatch": batch,
            "lr": lr,
            "seeds": list(range(seed, seed + seeds)),
            "steps": steps,
            "wall_s": wall,
            "greedy_returns": returns[point * seeds : (point + 1) * seeds],
        }  # fmt: skip
        for point, lr in enumerate(lrs)
    ]


def row(point: dict) -> list[str]:
    returns, seeds = point["greedy_returns"], point["seeds"]
    return [
        f"{point['epochs']} x {point['minibatches']} ({point['minibatch']})",
        f"{point['lr']:g}",
        f"{seeds[0]}-{seeds[-1]}",
        " / ".join(f"{r:.0f}" for r in returns),
        f"{sum(r >= 500 for r in returns)}/{len(returns)}",
        f"{point['wall_s']:.0f}",
    ]


def main(argv: list[str] | None = None) -> int:
    args = sweep_parser(__doc__, seed=0, seeds=10, total_steps=100_000).parse_args(argv)
    lrs = [float(lr) for lr in args.lr.split(",")]
    points = sweep(args.epochs, args.minibatches, lrs, args.seed, args.seeds, args.total_steps)
    table = (COLUMNS, [row(point) for point in points])
    title = "PPO gymnax CartPole-v1 update shapes and lr (issue 25)"
    notes = "machine shared with other work; wall s: the whole program, every point's seeds, no evaluation"
    record_sweep("gymnax_sweep.py", argv, args.id, title, table, points, notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
