"""The report of a finished sweep, from its summary: one row per point, ranked by the
interquartile mean of final return across seeds with a 95% stratified-bootstrap CI, as
`sweep.md`, `summary.json["points"]` and `learning_curves.png`."""

import math
from pathlib import Path

import numpy as np

from jaxrl.analysis import compare
from jaxrl.analysis.statistics import bootstrap_ci
from jaxrl.config import RunConfig
from jaxrl.logs.files import write_json
from jaxrl.search import point_labels


def point_rows(summary: dict, points: list[dict[str, float]]) -> list[dict]:
    """One row per point, ranked: points where no seed diverged first, then by IQM of final
    return across the seeds that did not diverge (95% stratified-bootstrap CI), then by the
    median env steps to the target."""
    runs = summary["runs"]
    seeds = len(runs) // len(points)
    rows = []
    for i, (point, label) in enumerate(zip(points, point_labels(points), strict=True)):
        members = runs[i * seeds : (i + 1) * seeds]
        healthy = [run for run in members if run["diverged_at_step"] is None]
        scores = np.array([np.nan if run["final_return"] is None else run["final_return"] for run in healthy])
        estimate = bootstrap_ci(scores)
        reached = [run["steps_to_target"] for run in members if run["steps_to_target"] is not None]
        rows.append(
            {
                "point": point,
                "label": label,
                "iqm": None if math.isnan(estimate.value) else estimate.value,
                "ci": None if math.isnan(estimate.value) else [estimate.low, estimate.high],
                "mean": float(np.nanmean(scores)) if np.isfinite(scores).any() else None,
                "seeds": seeds,
                "diverged": seeds - len(healthy),
                "reached_target": len(reached),
                "median_steps_to_target": float(np.median(reached)) if reached else None,
            }
        )

    def rank(row):  # ties in IQM (several points at the env's maximum) go to the faster learner
        steps = row["median_steps_to_target"]
        return row["diverged"], -row["iqm"] if row["iqm"] is not None else math.inf, steps or math.inf

    return sorted(rows, key=rank)


def markdown_table(rows: list[dict], target: float | None) -> str:
    header = "| rank | point | final return IQM [95% CI] | mean | diverged |"
    rule = "|-|-|-|-|-|"
    if target is not None:
        header += f" median steps to {target:g} (seeds) |"
        rule += "-|"
    lines = [header, rule]
    for rank, row in enumerate(rows, start=1):
        score = "-" if row["iqm"] is None else f"{row['iqm']:.1f} [{row['ci'][0]:.1f}, {row['ci'][1]:.1f}]"
        mean = "-" if row["mean"] is None else f"{row['mean']:.1f}"
        line = f"| {rank} | {row['label']} | {score} | {mean} | {row['diverged']}/{row['seeds']} |"
        if target is not None:
            steps = "-" if row["median_steps_to_target"] is None else f"{row['median_steps_to_target']:,.0f}"
            line += f" {steps} ({row['reached_target']}/{row['seeds']}) |"
        lines.append(line)
    return "\n".join(lines)


def report(summary: dict, config: RunConfig) -> tuple[dict, str]:
    """Ranks the sweep's points (config.sweep), adds them to summary.json, writes sweep.md and
    learning_curves.png (IQM and 95% CI across seeds per point) into the run dir; returns the
    summary with its points and the markdown."""
    run_dir = Path(summary["run_dir"])
    points = config.sweep.points
    rows = point_rows(summary, points)
    seeds = ", ".join(str(seed) for seed in config.run_seeds)
    text = "\n\n".join(
        [
            f"# {config.algo} on {config.env}: {len(points)} points x seeds {seeds}",
            f"{summary['total_steps']:,} env steps per member; final return = mean of each member's last 20 "
            "episodes; IQM and its 95% stratified-bootstrap CI are across the seeds of a point that did not diverge.",
            markdown_table(rows, config.target_return),
        ]
    )
    summary = {**summary, "points": rows}
    write_json(run_dir / "summary.json", summary)
    (run_dir / "sweep.md").write_text(text + "\n")
    try:
        groups = compare.load_groups([str(run_dir)])  # without the diverged members
    except compare.CompareError:  # no member has finished an episode: no curve to draw
        groups = []
    if groups:
        compare.plot_learning_curves(groups, run_dir / "learning_curves.png")
    return summary, text
