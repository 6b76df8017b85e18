"""The report of a finished PBT run, from its summary and TensorBoard files: the population's
final return (IQM and 95% CI, median, best), the schedule of each tuned hyperparameter along the
best member's ancestry, as `pbt.md`, `summary.json["pbt"]` and `pbt.png`."""

import warnings
from pathlib import Path

import numpy as np

from jaxrl.analysis import compare
from jaxrl.analysis.statistics import bootstrap_ci
from jaxrl.config import RunConfig
from jaxrl.logs.files import write_json
from jaxrl.search import format_value


def ancestry(lineage: list[list[dict]], member: int) -> list[dict]:
    """The schedule behind `member`'s final networks, oldest first: segments {"step": from when,
    "member": whose networks trained, "hyper": with which values}. Walking back from the end,
    each segment starts at a member's last event before the one that followed it; a copy event
    hands the walk to the parent (top members are never replaced at the ready point they give to)."""
    segments, until = [], np.inf
    while True:
        event = [e for e in lineage[member] if e["step"] < until][-1]
        segments.append({"step": event["step"], "member": member, "hyper": event["hyper"]})
        if event["parent"] is None:
            return segments[::-1]
        member, until = event["parent"], event["step"]


def final_scores(summary: dict) -> np.ndarray:
    """[P] final returns, NaN for a member without one or that diverged."""
    return np.array(
        [
            np.nan if run["final_return"] is None or run["diverged_at_step"] is not None else run["final_return"]
            for run in summary["runs"]
        ]
    )


def plot(run_dir: Path, names: list[str], schedule: list[dict], ranges: dict, total_steps: int, title: str) -> None:
    """pbt.png: the population's return over time (median, min-max band) and, below it, each
    tuned hyperparameter along the best member's ancestry."""
    # lazy: matplotlib (~0.3 s of imports) only where a picture is drawn
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    members = [compare.read_returns(run_dir / name) for name in names if (run_dir / name).is_dir()]
    figure = Figure(figsize=(8, 2.4 * (1 + len(ranges))), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1 + len(ranges), 1, sharex=True, squeeze=False)[:, 0]
    logged = [member for member in members if member.steps.size]
    if logged:
        grid = compare.step_grid([compare.Group("", "", logged)])
        curves = np.stack([compare.value_at(member, grid) for member in logged])
        with warnings.catch_warnings():  # steps before any member's first finished episode: no value
            warnings.simplefilter("ignore", RuntimeWarning)
            low, median, high = np.nanmin(curves, axis=0), np.nanmedian(curves, axis=0), np.nanmax(curves, axis=0)
        axes[0].plot(grid, median, label="population median")
        axes[0].fill_between(grid, low, high, alpha=0.2, label="min-max")
        axes[0].legend(fontsize="small")
    axes[0].set(title=title, ylabel="return (last 20 episodes)")
    steps = [segment["step"] for segment in schedule] + [total_steps]
    for axis, (name, span) in zip(axes[1:], ranges.items(), strict=True):
        values = [segment["hyper"][name] for segment in schedule]
        axis.stairs(values, steps, baseline=None)
        axis.set(ylabel=name, ylim=(span["low"], span["high"]), yscale="log" if span["log"] else "linear")
    axes[-1].set(xlabel="env steps (the best member's ancestry)")
    for axis in axes:
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(run_dir / "pbt.png")


def report(summary: dict, config: RunConfig) -> tuple[dict, str]:
    """Adds the best member and its ancestry to summary["pbt"] (which holds the lineage), writes
    summary.json, pbt.md and pbt.png into the run dir; returns the summary and the markdown."""
    run_dir = Path(summary["run_dir"])
    scores = final_scores(summary)
    names = [run["run"] for run in summary["runs"]]
    lineage = [summary["pbt"]["lineage"][name] for name in names]
    best = int(np.nanargmax(scores)) if np.isfinite(scores).any() else 0
    schedule = ancestry(lineage, best)
    estimate = bootstrap_ci(scores)
    copies = sum(len(events) - 1 for events in lineage)
    summary = {**summary, "pbt": {**summary["pbt"], "best": names[best], "ancestry": schedule}}
    values = ", ".join(f"{name}={format_value(value)}" for name, value in schedule[-1]["hyper"].items())
    iqm = "-" if np.isnan(estimate.value) else f"{estimate.value:.1f} [{estimate.low:.1f}, {estimate.high:.1f}]"
    median = "-" if not np.isfinite(scores).any() else f"{np.nanmedian(scores):.1f}"
    text = "\n\n".join(
        [
            f"# PBT: {config.algo} on {config.env}, {len(names)} members, ready every {config.pbt['ready_every']:,} env steps",
            f"{summary['total_steps']:,} env steps per member; final return = mean of each member's last 20 episodes; "
            f"{copies} copies made (the bottom {config.pbt['truncation']:g} of each population at each ready point).",
            "| final return IQM [95% CI] | median | best | best member's final values |\n|-|-|-|-|\n"
            f"| {iqm} | {median} | {names[best]} {np.nan_to_num(scores[best], nan=0):.1f} | {values} |",
        ]
    )
    write_json(run_dir / "summary.json", summary)
    (run_dir / "pbt.md").write_text(text + "\n")
    trained = summary["runs"][0]["env_steps"]  # (below total_steps when every member reached the target)
    plot(run_dir, names, schedule, config.pbt["ranges"], trained, f"PBT: {config.algo} on {config.env}")
    return summary, text
