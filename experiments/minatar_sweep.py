"""PPO's Breakout-MinAtar settings with rejax's network (issue 25): which update costs less
arithmetic per env step and still plays as well. One `jaxrl.sweep` over lr (and ent_coef) at one
update shape (envs x steps, epochs x minibatches, lr annealed or not), every point's seeds in one
program, then each member's final greedy policy plays 16 games (`jaxrl.evaluate`, as
`gymnax_run.py` does). Tune on seeds 5-12; the benchmark's seeds are 0-4. Each invocation adds its
points as rows of experiments/results/<id>.json.

  python experiments/minatar_sweep.py --id minatar-sweep-issue-25 --epochs 2 --lr 2.5e-4,5e-4
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from experiments.benchmarks_md import record_sweep, sweep_parser  # noqa: E402
from jaxrl.analysis.statistics import iqm  # noqa: E402

ENV = "Breakout-MinAtar"
EPISODES = 16
COLUMNS = [
    "envs x steps",
    "epochs x minibatches",
    "anneal",
    "lr",
    "ent_coef",
    "seeds",
    "training return, IQM (worst seed)",
    "greedy return, IQM (worst seed)",
    "program wall s (all points)",
]


def sweep(args: argparse.Namespace, lrs: list[float], ent_coefs: list[float]) -> list[dict]:
    """One program: len(lrs) x len(ent_coefs) points x `args.seeds` seeds; per point, each seed's
    final training return (its last 20 episodes) and its greedy return over EPISODES games."""
    import jaxrl

    options = dict(
        env=ENV, backend="gymnax", seed=args.seed, seeds=args.seeds, total_steps=args.total_steps,
        num_envs=args.num_envs, rollout_steps=args.rollout_steps, update_epochs=args.epochs,
        num_minibatches=args.minibatches, anneal_lr=args.anneal, cnn=False, shared_torso=False, target_return=1e9,
    )  # fmt: skip
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as logdir:
        result = jaxrl.sweep("ppo", lr=lrs, ent_coef=ent_coefs, logdir=logdir, **options)
        wall = time.perf_counter() - start
        scores = jaxrl.evaluate(result.run_dir, episodes=EPISODES)
    greedy = {name: sum(member["returns"]) / EPISODES for name, member in scores["members"].items()}
    points: dict[tuple, dict] = {}  # (lr, ent_coef) -> its seeds' figures, in the grid's order
    for run in result.summary["runs"]:
        hyper = run["hyper"]
        point = points.setdefault(
            (hyper["lr"], hyper["ent_coef"]),
            {
                "num_envs": args.num_envs, "rollout_steps": args.rollout_steps, "epochs": args.epochs,
                "minibatches": args.minibatches, "anneal_lr": args.anneal, "lr": hyper["lr"],
                "ent_coef": hyper["ent_coef"], "seeds": [], "total_steps": args.total_steps, "wall_s": wall,
                "training": [], "greedy": [],
            },
        )  # fmt: skip
        point["seeds"].append(run["seed"])
        point["training"].append(run["final_return"])
        point["greedy"].append(greedy[run["run"]])
    return list(points.values())


def row(point: dict) -> list[str]:
    training, greedy, seeds = np.array(point["training"], float), np.array(point["greedy"]), point["seeds"]
    return [
        f"{point['num_envs']} x {point['rollout_steps']}",
        f"{point['epochs']} x {point['minibatches']}",
        "yes" if point["anneal_lr"] else "no",
        f"{point['lr']:g}",
        f"{point['ent_coef']:g}",
        f"{seeds[0]}-{seeds[-1]}",
        f"{iqm(training):.2f} ({training.min():.2f})",
        f"{iqm(greedy):.2f} ({greedy.min():.2f})",
        f"{point['wall_s']:.0f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = sweep_parser(__doc__, seed=5, seeds=8, total_steps=1_000_000, minibatches=4)
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--rollout-steps", type=int, default=32)
    parser.add_argument("--anneal", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--ent-coef", default="0.01", help="comma-separated entropy weights")
    args = parser.parse_args(argv)
    lrs, ent_coefs = ([float(v) for v in text.split(",")] for text in (args.lr, args.ent_coef))
    points = sweep(args, lrs, ent_coefs)
    table = (COLUMNS, [row(point) for point in points])
    title = "PPO Breakout-MinAtar with rejax's network: update shapes and lr (issue 25)"
    notes = "machine shared with other work; wall s: the whole program, every point's seeds"
    record_sweep("minatar_sweep.py", argv, args.id, title, table, points, notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
