"""IPPO on MPE_simple_spread_v3 beside JaxMARL's own published curve (issue 29): the figure its
repository committed with baselines/IPPO/ippo_ff_mpe.py (`baselines/IPPO/ippo_ff_MPE_simple_spread_v3.png`,
commit ea39f4b, May 2024: its config then, 10 seeds, 1e7 game steps = 4,882 updates of 16 games x
128 steps, the mean over seeds of MPELogWrapper's returned_episode_returns per update). Its values
were read off the plot by eye (no numbers are published) and are per agent here: the wrapper logs
each agent's return times the number of agents (3), as `bench_marl` notes. A jaxrl run of the same
budget (`jaxrl train ippo --env MPE_simple_spread_v3 --seeds 10 --total-steps 29995008`: 4,882
rollouts of 48 rows x 128 steps) is read from its TensorBoard logs at the same updates.

  python experiments/marl_published.py --id marl-published-issue-29 RUN_DIR
"""

import argparse
import datetime
import json
from pathlib import Path

import numpy as np

from experiments.benchmarks_md import RESULTS, dumps, machine
from experiments.marl_runs import TAGS, curve

ROWS_PER_UPDATE = 48 * 128  # 16 games x 3 agents x 128 steps
# update -> JaxMARL's plotted return (the wrapper's units, 3x an agent's), read by eye: +-1.5
PUBLISHED = {160: -73.0, 500: -69.0, 1000: -65.5, 2000: -62.0, 3000: -61.0, 4000: -60.5, 4882: -60.3}
READ_ERROR = 1.5 / 3  # per agent
WINDOW = 0.1  # each point: the mean of a run's logged values over the last 10% of the updates up to it


def at_updates(run_dir: Path) -> dict[int, list[float]]:
    """{update: each member's mean return per agent over the window ending there}."""
    summary = json.loads((run_dir / "summary.json").read_text())
    members = [curve(run_dir / run["run"], TAGS["return per agent"]) for run in summary["runs"]]
    points = {}
    for update in PUBLISHED:
        low, high = (1 - WINDOW) * update * ROWS_PER_UPDATE, update * ROWS_PER_UPDATE
        points[update] = [float(values[(steps > low) & (steps <= high)].mean()) for steps, values in members]
    return points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--id", required=True)
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    points = at_updates(args.run_dir)
    rows = [
        [
            f"{update:,}",
            f"{update * ROWS_PER_UPDATE:,}",
            f"{PUBLISHED[update] / 3:.1f} +- {READ_ERROR:.1f}",
            f"{np.mean(values):.1f}",
            f"{min(values):.1f} / {max(values):.1f}",
        ]
        for update, values in points.items()
    ]
    summary = json.loads((args.run_dir / "summary.json").read_text())
    result = {
        "id": args.id,
        "title": "IPPO on MPE beside JaxMARL's published curve (issue 29)",
        "section": None,
        "command": "python experiments/marl_published.py --id " + args.id + " RUN_DIR",
        "date": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}",
        "machine": machine(),
        "transcribed": None,
        "tables": [
            {
                "columns": [
                    "update",
                    "agent steps per seed",
                    "JaxMARL's figure, per agent (10 seeds, read by eye)",
                    "jaxrl ippo, mean of 10 seeds",
                    "jaxrl, worst / best seed",
                ],
                "rows": rows,
            }
        ],
        "figures": {
            "points": {str(k): v for k, v in points.items()},
            "published": {str(k): v for k, v in PUBLISHED.items()},
            "wall_s": summary.get("wall_s"),
            "compile_s": summary.get("compile_s", {}).get("total"),
        },
        "goals": [],
        "notes": "JaxMARL's values read off its committed plot by eye; jaxrl's from the run's TensorBoard logs",
    }
    path = RESULTS / f"{args.id}.json"
    path.write_text(dumps(result) + "\n")
    for row in rows:
        print(" | ".join(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
