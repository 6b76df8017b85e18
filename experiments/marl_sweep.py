"""IPPO's [mpe] settings (issue 29): which update costs less per agent step and still learns.
One `jaxrl.sweep` over lr at one update shape (epochs x minibatches), every point's seeds in one
program on MPE_simple_spread_v3 (the preset's rollouts otherwise), each seed's return per agent
over the last tenth of the iterations (the `marl` bench's measure, bench_marl.Curve), and its
best tenth (a seed that learned and then fell back shows both). Each invocation adds its points
as rows of experiments/results/<id>.json.

  python experiments/marl_sweep.py --id marl-sweep-issue-29 --epochs 1 --minibatches 1 --lr 1e-3,2.5e-3
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from experiments.bench_marl import ENV, Curve  # noqa: E402
from experiments.benchmarks_md import record_sweep, sweep_parser  # noqa: E402

COLUMNS = [
    "epochs x minibatches",
    "lr",
    "seeds",
    "agent steps per seed",
    "return per agent, last tenth: mean (worst seed)",
    "best tenth, worst seed",
    "program wall s (all points)",
]


def sweep(epochs: int, minibatches: int, lrs: list[float], seed: int, seeds: int, rows: int) -> list[dict]:
    """One program: len(lrs) points x `seeds` seeds; per point, each seed's last and best tenth."""
    import jaxrl

    curve = Curve()
    options = dict(env=ENV, seed=seed, seeds=seeds, total_steps=rows, update_epochs=epochs, num_minibatches=minibatches)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as logdir:
        jaxrl.sweep("ippo", lr=lrs, logdir=logdir, loggers=[curve], **options)
    wall = time.perf_counter() - start
    returns = curve.member_returns()  # [iterations, members], members point-major
    tenth = max(len(returns) // 10, 1)
    windows = np.array([returns[i : i + tenth].mean(axis=0) for i in range(0, len(returns) - tenth + 1, tenth)])
    return [
        {
            "epochs": epochs,
            "minibatches": minibatches,
            "lr": lr,
            "seeds": list(range(seed, seed + seeds)),
            "rows": rows,
            "wall_s": wall,
            "last_tenth": windows[-1, point * seeds : (point + 1) * seeds].tolist(),
            "best_tenth": windows[:, point * seeds : (point + 1) * seeds].max(axis=0).tolist(),
        }  # fmt: skip
        for point, lr in enumerate(lrs)
    ]


def row(point: dict) -> list[str]:
    last, best = np.array(point["last_tenth"]), np.array(point["best_tenth"])
    seeds = point["seeds"]
    return [
        f"{point['epochs']} x {point['minibatches']}",
        f"{point['lr']:g}",
        f"{seeds[0]}-{seeds[-1]}",
        f"{point['rows']:,}",
        f"{last.mean():.2f} ({last.min():.2f})",
        f"{best.min():.2f}",
        f"{point['wall_s']:.0f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = sweep_parser(__doc__, seed=0, seeds=8, total_steps=983_040)
    args = parser.parse_args(argv)
    lrs = [float(lr) for lr in args.lr.split(",")]
    points = sweep(args.epochs, args.minibatches, lrs, args.seed, args.seeds, args.total_steps)
    table = (COLUMNS, [row(point) for point in points])
    notes = "machine shared with other work; wall s: the whole program, every point's seeds"
    record_sweep("marl_sweep.py", argv, args.id, "IPPO [mpe] update shapes and lr (issue 29)", table, points, notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
