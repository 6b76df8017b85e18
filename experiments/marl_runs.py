"""The multi-agent learning runs (issue 29) as a result file and a figure: each `jaxrl train` run
folder given (IPPO on MPE, MAPPO on SMAX, PBT over IPPO) is read back from its summary.json and
TensorBoard logs, and written as one row of experiments/results/<id>.json, with its curves
(mean over the seeds of the return per agent, and of SMAX's win rate) in docs/marl-learning.png
(or --figure). With --until STEPS every curve is cut there: runs of different budgets compared
over the same steps.

  python experiments/marl_runs.py --id marl-learning-issue-29 --commands "jaxrl train ..." RUN_DIR...
"""

import argparse
import datetime
import json
from pathlib import Path

import numpy as np

from experiments.benchmarks_md import RESULTS, ROOT, dumps, machine, scrub

TAGS = {"return per agent": "charts/episodic_return", "win rate": "smax/win_rate"}


def curve(member_dir: Path, tag: str, until: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(env steps, values) of one member's TensorBoard scalar, up to `until` steps; empty where it
    was not logged."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    events = EventAccumulator(str(member_dir), {SCALARS: 0}).Reload()
    if tag not in events.Tags()["scalars"]:
        return np.array([]), np.array([])
    points = [p for p in events.Scalars(tag) if until is None or p.step <= until]
    return np.array([p.step for p in points]), np.array([p.value for p in points])


def tenths(values: np.ndarray) -> tuple[float, float]:
    """The mean of the first and of the last tenth of a curve's points."""
    tenth = max(1, len(values) // 10)
    return float(np.mean(values[:tenth])), float(np.mean(values[-tenth:]))


def read_run(run_dir: Path, until: int | None = None) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    if until is not None and until < summary["total_steps"]:  # its first `until` steps, wall time unknown
        summary = {**summary, "total_steps": until, "cut_from": summary["total_steps"]}
    curves = {name: [curve(run_dir / run["run"], tag, until) for run in summary["runs"]] for name, tag in TAGS.items()}
    ends = {name: [tenths(v) for _, v in members if len(v)] for name, members in curves.items()}
    return {"summary": summary, "curves": curves, "ends": {name: np.mean(v, axis=0) for name, v in ends.items() if v}}


def label(summary: dict) -> str:
    static = json.loads((Path(summary["run_dir"]) / "config.json").read_text())["static"]
    recurrent = static.get("recurrent", "none")
    kind = "" if recurrent in (None, "none") else f" {recurrent.upper()}"
    return f"{summary['algo']}{kind} {summary['env']}" + (" (PBT)" if summary.get("pbt") else "")


def row(run: dict) -> list[str]:
    summary, ends = run["summary"], run["ends"]
    first, last = ends["return per agent"]
    win = ends.get("win rate")
    agents = len(summary["agents"])
    return [
        label(summary),
        str(len(summary["runs"])),
        f"{summary['total_steps']:,}",
        f"- (its first steps of {summary['cut_from']:,})"
        if "cut_from" in summary
        else f"{summary['wall_s']:.0f} ({summary['compile_s']['total']:.0f} compiling)",
        f"{first:.2f} -> {last:.2f} (team {agents * last:.1f})",
        "-" if win is None else f"{win[0]:.3f} -> {win[1]:.3f}",
    ]


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(run, name) for run in runs for name in TAGS if name in run["ends"]]
    figure, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), squeeze=False)
    for axis, (run, name) in zip(axes[0], panels, strict=True):
        for steps, values in run["curves"][name]:
            axis.plot(steps, values, alpha=0.6, linewidth=0.8)
        axis.set(title=label(run["summary"]), xlabel="env steps (rows), each seed or member", ylabel=name)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--id", required=True)
    parser.add_argument("--commands", required=True, help="the commands that made the runs, as they were typed")
    parser.add_argument("--notes", default="")
    parser.add_argument("--until", type=int, default=None, help="cut every curve at this many steps")
    parser.add_argument("--figure", type=Path, default=ROOT / "docs" / "marl-learning.png")
    args = parser.parse_args(argv)
    runs = [read_run(run_dir, args.until) for run_dir in args.run_dirs]
    columns = ["run", "seeds", "steps per seed", "wall s", "return per agent, first -> last tenth", "win rate"]
    result = {
        "id": args.id,
        "title": "Multi-agent learning on this CPU (issue 29)",
        "section": None,
        "command": args.commands,
        "date": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}",
        "machine": machine(),
        "transcribed": None,
        "tables": [{"columns": columns, "rows": [row(run) for run in runs]}],
        "figures": {
            label(run["summary"]): {
                "final_return_per_seed": [r["final_return"] for r in run["summary"]["runs"]],
                "win_rate_per_seed": [r.get("win_rate") for r in run["summary"]["runs"]],
                "wall_s": run["summary"]["wall_s"],
            }
            for run in runs
        },
        "goals": [],
        "notes": scrub(args.notes),
    }
    (RESULTS / f"{args.id}.json").write_text(dumps(result) + "\n")
    plot(runs, args.figure)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
