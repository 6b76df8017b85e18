"""The one way compare, sweep and PBT reports draw, after rliable (Agarwal et al., 2021): legend
labels that name only what differs, IQM curves with thin 95% CI bands, the legend outside the
axes, and beside the curves a ranked panel of each series' final-return IQM with its 95% CI."""

from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxrl.analysis.statistics import Estimate, bootstrap_ci

BAND_ALPHA = 0.12  # thin enough that six overlapping bands still show the lines through them
CURVE_WIDTH, AGGREGATE_WIDTH = 2.4, 1.0  # width ratio of the curves and the aggregate panel
OVERLAY = 3  # up to this many series share one panel; more get small multiples
TITLE_CHARS = 22  # a small multiple's title wraps at this width, about its panel's


class Series(NamedTuple):
    """One line of a figure: what names it, its curve on the figure's grid, its final scores."""

    fields: dict[str, str]  # what identifies it, in order: key -> shown text ({"lr": "lr=1e-3"})
    curve: Estimate  # [X] IQM over runs at each x of the grid, with its 95% band
    scores: np.ndarray  # [runs] final returns; NaN for a run without one


class Ranked(NamedTuple):
    """A row of the aggregate panel."""

    series: int  # index into the figure's series
    label: str
    estimate: Estimate  # IQM of the scores and its 95% CI, from statistics.bootstrap_ci
    scores: np.ndarray


def legend_labels(fields: list[dict[str, str]]) -> tuple[str, list[str]]:
    """(what every series shares, for the title; one label per series naming only what differs).
    A key differs when its text, or whether it is there at all, is not the same for every
    series. A series that would get an empty label (one series alone, a plain run beside a
    sweep of the same name) is named by all its fields."""
    keys = list(dict.fromkeys(key for item in fields for key in item))
    differing = [key for key in keys if len({item.get(key) for item in fields}) > 1]
    common = ", ".join(fields[0][key] for key in keys if key not in differing)
    labels = [", ".join(text for key, text in item.items() if key in differing) for item in fields]
    return common, [label or ", ".join(item.values()) for label, item in zip(labels, fields, strict=True)]


def wrapped(label: str, width: int = TITLE_CHARS) -> str:
    """The label in lines of up to `width` characters, broken between its fields, never inside one."""
    lines: list[str] = []
    for part in label.split(", "):
        if lines and len(lines[-1]) + 2 + len(part) <= width:
            lines[-1] += ", " + part
        else:
            lines.append(part)
    return ",\n".join(lines)


def ranked(labels: list[str], scores: list[np.ndarray], areas: list[float] | None = None) -> list[Ranked]:
    """Each series' final-return IQM with its 95% stratified-bootstrap CI, best first; equal IQMs
    (several series at the env's maximum) by the larger area under the curve (`areas`: the
    faster learner; else in the given order), series without a score last."""
    areas = areas or [0.0] * len(labels)
    rows = [
        Ranked(index, label, bootstrap_ci(runs), runs)
        for index, (label, runs) in enumerate(zip(labels, scores, strict=True))
    ]
    return sorted(
        rows,
        key=lambda row: (
            np.isnan(row.estimate.value),
            -np.nan_to_num(row.estimate.value),
            -np.nan_to_num(areas[row.series], nan=-np.inf),
        ),
    )


def new_figure(width: float, height: float):
    """A matplotlib Figure with constrained layout (room for a legend outside the axes)."""
    # lazy: matplotlib (~0.3 s of imports) only where a picture is drawn
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    figure.get_layout_engine().set(w_pad=0.08, wspace=0.06)
    FigureCanvasAgg(figure)
    return figure


def colors(count: int) -> list:
    """Distinct colours, in rank order: tab10, then tab20 beyond ten series."""
    from matplotlib import colormaps  # lazy: as in new_figure

    palette = colormaps["tab10" if count <= 10 else "tab20"].colors
    return [palette[i % len(palette)] for i in range(count)]


def style(axes) -> None:
    """rliable's look: no top or right spine, a light grid."""
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(alpha=0.25)


def draw_curve(axes, grid: np.ndarray, curve: Estimate, color, label: str) -> None:
    axes.plot(grid, curve.value, color=color, linewidth=1.8, label=label)
    axes.fill_between(grid, curve.low, curve.high, color=color, alpha=BAND_ALPHA, linewidth=0)


def draw_aggregate(axes, rows: list[Ranked], row_colors: list) -> None:
    """rliable's interval estimates: per row (best at the top) a bar over the 95% CI, a black
    tick at the IQM and a dot per run."""
    positions = np.arange(len(rows))[::-1]
    for position, row, color in zip(positions, rows, row_colors, strict=True):
        value, low, high = row.estimate
        if not np.isnan(value):
            axes.barh(position, high - low, left=low, height=0.6, color=color, alpha=0.75)
            axes.vlines(value, position - 0.3, position + 0.3, color="black", linewidth=2)
        runs = row.scores[~np.isnan(row.scores)]
        axes.scatter(runs, np.full(runs.shape, position), s=9, color="black", alpha=0.5, zorder=3)
    axes.set_yticks(positions, [wrapped(row.label) for row in rows])
    for tick, color in zip(axes.get_yticklabels(), row_colors, strict=True):
        tick.set_color(color)
    axes.set(xlabel="final return: IQM (black line),\n95% CI (bar), runs (dots)", ylim=(-0.6, len(rows) - 0.4))
    axes.use_sticky_edges = False  # a margin, so a CI that ends at the env's maximum stays visible
    axes.margins(x=0.05)
    style(axes)
    axes.grid(axis="y", visible=False)


def save(figure, png_path: Path | str) -> None:
    Path(png_path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png_path)


def curve_panels(figure, count: int) -> tuple[list, object]:
    """(the curve axes of each series, the aggregate axes): one shared panel for up to OVERLAY
    series, else small multiples (three a row, shared axes); the aggregate panel to the right,
    as tall as the curves."""
    panels = count if count > OVERLAY else 1
    columns = min(panels, 3)
    layout = figure.add_gridspec(
        -(-panels // columns), columns + 1, width_ratios=[CURVE_WIDTH / columns] * columns + [AGGREGATE_WIDTH]
    )
    axes = []
    for i in range(panels):
        first = axes[0] if axes else None
        panel = figure.add_subplot(layout[i // columns, i % columns], sharex=first, sharey=first)
        style(panel)
        panel.xaxis.set_major_formatter(steps_format)
        left, bottom = i % columns == 0, i + columns >= panels  # labels on the outer panels only
        panel.tick_params(labelleft=left, labelbottom=bottom)
        panel.set(ylabel="return (IQM, 95% CI)" if left else "", xlabel="env steps" if bottom else "")
        axes.append(panel)
    return (axes if panels == count else axes * count), figure.add_subplot(layout[:, -1])


def steps_format(steps: float, _position=None) -> str:
    """Env steps on an axis: 20k, 1.5M."""
    for scale, unit in ((1e6, "M"), (1e3, "k")):
        if abs(steps) >= scale:
            return f"{steps / scale:g}{unit}"
    return f"{steps:g}"


def curves_figure(series: list[Series], grid: np.ndarray, env: str, png_path: Path | str) -> list[Ranked]:
    """The compare and sweep figure: the curves, the ranked aggregate panel beside them and the
    legend below; panels, rows and colours in rank order; the title names the env and what every
    series shares. Returns the aggregate panel's rows."""
    common, labels = legend_labels([item.fields for item in series])
    rows = ranked(labels, [item.scores for item in series], [np.nansum(item.curve.value) for item in series])
    row_colors = colors(len(rows))
    multiples = len(rows) > OVERLAY
    figure = new_figure(11, 4.2 if not multiples else 2.4 * -(-len(rows) // 3) + 1.0)
    panels, aggregate = curve_panels(figure, len(rows))
    for panel, row, color in zip(panels, rows, row_colors, strict=True):
        if multiples:  # the other series as thin grey lines, for scale
            for other in rows:
                if other is not row:
                    panel.plot(grid, series[other.series].curve.value, color="0.75", linewidth=0.8)
            panel.set_title(wrapped(row.label), color=color, fontsize="medium")
        draw_curve(panel, grid, series[row.series].curve, color, row.label)
    draw_aggregate(aggregate, rows, row_colors)
    figure.suptitle(f"{env}: {common}" if common else env)
    figure.legend(
        handles=legend_key(row_colors[0]) if multiples else None,
        loc="outside lower center",
        ncols=3 if multiples else min(len(rows), 3),
        frameon=False,
    )
    save(figure, png_path)
    return rows


def legend_key(color) -> list:
    """What the small multiples' marks mean (their series are named by the panel titles)."""
    # lazy: as in new_figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    return [
        Line2D([], [], color=color, linewidth=1.8, label="IQM over runs"),
        Patch(color=color, alpha=BAND_ALPHA * 2, label="95% bootstrap CI"),
        Line2D([], [], color="0.75", linewidth=0.8, label="the other series"),
    ]
