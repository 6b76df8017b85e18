"""The report of a finished PBT run, from its summary and TensorBoard files: the population's
final return (IQM and 95% CI, median, best), the schedule of each tuned hyperparameter along the
best member's ancestry, as `pbt.md`, `summary.json["pbt"]` and `pbt.png`."""

from pathlib import Path

import numpy as np

from jaxrl.analysis import compare, figures
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


def draw_populations(axes, names: list[str], scores: np.ndarray) -> None:
    """The aggregate panel: each independent population's final-return IQM and 95% CI, ranked
    (one row, all members, for a run of one population)."""
    populations = [name.partition("-m")[0] if "-m" in name else "" for name in names]  # "p1-m03" -> "p1"
    labels = list(dict.fromkeys(populations))
    scores = [scores[[population == label for population in populations]] for label in labels]
    rows = figures.ranked([label or f"{len(names)} members" for label in labels], scores)
    figures.draw_aggregate(axes, rows, figures.colors(len(rows)))


def plot(summary: dict, config: RunConfig) -> None:
    """pbt.png in the run dir: the population's return (IQM over members, 95% CI, and the best
    member's at each step); below it each tuned hyperparameter, every member's in grey and the
    best member's ancestry's in colour; beside them each population's final-return IQM and 95%
    CI, ranked.
    `summary` holds the lineage and the best member's ancestry (summary["pbt"])."""
    # lazy: as figures' matplotlib
    from matplotlib.lines import Line2D
    from matplotlib.ticker import LogLocator

    run_dir, ranges, schedule = Path(summary["run_dir"]), config.pbt.ranges, summary["pbt"]["ancestry"]
    names = [run["run"] for run in summary["runs"]]
    lineage = [summary["pbt"]["lineage"][name] for name in names]
    steps = summary["runs"][0]["env_steps"]  # (below total_steps when every member reached the target)
    members = {name: compare.read_returns(run_dir / name) for name in names}
    logged = [member for member in members.values() if member.steps.size]
    figure = figures.new_figure(11, 2.6 + 1.6 * len(ranges))
    layout = figure.add_gridspec(1 + len(ranges), 2, width_ratios=[figures.CURVE_WIDTH, figures.AGGREGATE_WIDTH])
    layout.set_height_ratios([1.8] + [1] * len(ranges))
    returns = figure.add_subplot(layout[0, 0])
    population, ancestor = figures.colors(2)
    best = names[schedule[-1]["member"]]
    if logged:
        everyone = compare.Group(config.env, config.algo, run_dir.name, "", logged)
        grid = compare.step_grid([everyone])
        curve = compare.group_curve(everyone, grid)
        figures.draw_curve(returns, grid, curve, population, f"population: IQM over {len(logged)} members, 95% CI")
        # Not the ancestry's return: a member's mean of its last 20 episodes still holds its
        # episodes from before a copy, so a curve stitched along the ancestry dips at each copy.
        top = np.fmax.reduce([compare.value_at(member, grid) for member in logged])  # NaN-free where any logged
        returns.plot(grid, top, color="black", linewidth=0.8, linestyle="--", label="best member at each step")
    returns.set(ylabel="return (last 20 episodes)")
    for row, (name, span) in enumerate(ranges.items(), start=1):
        axes = figure.add_subplot(layout[row, 0], sharex=returns)
        for events in lineage:
            values = [event["hyper"][name] for event in events]
            axes.stairs(values, [event["step"] for event in events] + [steps], baseline=None, color="0.8", lw=0.8)
        values = [segment["hyper"][name] for segment in schedule]
        axes.stairs(values, [segment["step"] for segment in schedule] + [steps], baseline=None, color=ancestor, lw=2)
        axes.set(ylabel=name, ylim=(span["low"], span["high"]), yscale="log" if span["log"] else "linear")
        if span["log"]:  # a label at every power of ten, which a short panel would thin out
            axes.yaxis.set_major_locator(LogLocator(numticks=12))
    for axes in figure.axes:
        figures.style(axes)
        axes.xaxis.set_major_formatter(figures.steps_format)
        axes.tick_params(labelbottom=axes is figure.axes[-1])
    figure.axes[-1].set_xlabel("env steps")
    draw_populations(figure.add_subplot(layout[0, 1]), names, final_scores(summary))
    key = figure.add_subplot(layout[1:, 1])  # the legend, outside the curves
    key.axis("off")
    handles = returns.get_legend_handles_labels()[0] + [
        Line2D([], [], color=ancestor, linewidth=2, label=f"values along {best}'s ancestry (best final return)"),
        Line2D([], [], color="0.8", label="every member's values"),
    ]
    key.legend(handles=handles, loc="upper left", frameon=False)
    figure.suptitle(f"PBT: {config.algo} on {config.env}, {len(names)} members")
    figures.save(figure, run_dir / "pbt.png")


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
            f"# PBT: {config.algo} on {config.env}, {len(names)} members, ready every {config.pbt.ready_every:,} env steps",
            f"{summary['total_steps']:,} env steps per member; final return = mean of each member's last 20 episodes; "
            f"{copies} copies made (the bottom {config.pbt.truncation:g} of each population at each ready point).",
            "| final return IQM [95% CI] | median | best | best member's final values |\n|-|-|-|-|\n"
            f"| {iqm} | {median} | {names[best]} {np.nan_to_num(scores[best], nan=0):.1f} | {values} |",
        ]
    )
    write_json(run_dir / "summary.json", summary)
    (run_dir / "pbt.md").write_text(text + "\n")
    plot(summary, config)
    return summary, text
