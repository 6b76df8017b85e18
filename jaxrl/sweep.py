"""Hyperparameter sweeps: a grid (or a random sample) of numeric hyperparameter points times
seeds, trained as ONE population in one compiled program, and reported per point as the
interquartile mean across seeds with a 95% stratified-bootstrap confidence interval.

Only the algorithm's `Hyper` fields can be swept: they are float arrays with the population
axis. Static fields fix shapes or the program itself (widths, num_envs, epochs) and need
separate runs.
"""

import dataclasses
import itertools
import math
import time
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from jaxrl.algos import Algorithm, field_names
from jaxrl.config import ConfigError, RunConfig, check_value, flag, resolve
from jaxrl.runner import Population


class Range(NamedTuple):
    """`low:high` or `low:high:log`, sampled by `--random N`."""

    low: float
    high: float
    log: bool


def parse_number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"invalid {flag(name)} value {text!r}: not a number") from None
    check_value(name, value, float)
    return value


def parse_values(name: str, text: str) -> list[float] | Range:
    """`3e-4` -> [3e-4]; `1e-4,3e-4` -> [1e-4, 3e-4]; `1e-5:1e-2:log` -> Range. Checked against
    the hyperparameter's valid range, value by value (a range by its ends)."""
    if ":" not in text:
        values = [parse_number(name, part) for part in text.split(",")]
        if len(set(values)) != len(values):
            raise ConfigError(f"invalid {flag(name)} {text}: a value is repeated")
        return values
    parts = text.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
        raise ConfigError(f"invalid {flag(name)} {text}: a range is low:high or low:high:log")
    low, high = parse_number(name, parts[0]), parse_number(name, parts[1])
    log = len(parts) == 3
    if not low < high:
        raise ConfigError(f"invalid {flag(name)} {text}: low must be below high")
    if log and low <= 0:
        raise ConfigError(f"invalid {flag(name)} {text}: a log range needs low > 0")
    return Range(low, high, log)


def grid_points(values: dict[str, list[float] | Range]) -> list[dict[str, float]]:
    """Every combination, the first flag varying slowest."""
    ranges = [flag(name) for name, value in values.items() if isinstance(value, Range)]
    if ranges:
        raise ConfigError(f"{', '.join(ranges)} is a range: add --random N to sample N points from it")
    return [dict(zip(values, combination, strict=True)) for combination in itertools.product(*values.values())]


def random_points(values: dict[str, list[float] | Range], count: int, seed: int) -> list[dict[str, float]]:
    """`count` points: ranges sampled uniformly (log-uniformly for `:log`), lists by uniform
    choice; lists alone give `count` distinct points of their grid."""
    rng = np.random.default_rng(seed)
    if not any(isinstance(value, Range) for value in values.values()):
        grid = grid_points(values)
        if count > len(grid):
            raise ConfigError(
                f"--random {count}: the lists give only {len(grid)} distinct points; "
                "ask for fewer or give ranges (low:high)"
            )
        return [grid[i] for i in sorted(rng.choice(len(grid), count, replace=False))]

    def sample(value):
        if not isinstance(value, Range):
            return float(rng.choice(value))
        if value.log:
            return float(math.exp(rng.uniform(math.log(value.low), math.log(value.high))))
        return float(rng.uniform(value.low, value.high))

    return [{name: sample(value) for name, value in values.items()} for _ in range(count)]


def format_value(value: float, digits: int = 4) -> str:
    """The shorter of plain and scientific notation, `digits` significant digits: 3e-4, 0.01, 0.95."""
    plain = np.format_float_positional(value, precision=digits, fractional=False, trim="-")
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    scientific = f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return scientific if len(scientific) < len(plain) else plain


def point_labels(points: list[dict[str, float]]) -> list[str]:
    """`lr=3e-4,ent_coef=0.01` per point: the part of a member's name that TensorBoard's filter
    compares. 4 significant digits, more where two points would share a label (and a folder)."""
    for digits in range(4, 17):
        labels = [",".join(f"{name}={format_value(v, digits)}" for name, v in point.items()) for point in points]
        if len(set(labels)) == len(labels):
            break
    return labels  # 17 digits tell any two floats apart


def sweep_population(hyper_cls, defaults: dict[str, float], points: list[dict[str, float]], seeds: list[int]):
    """Members point-major: point i, seed j is member i * len(seeds) + j."""
    members = [
        (point, label, seed) for point, label in zip(points, point_labels(points), strict=True) for seed in seeds
    ]
    hyper = hyper_cls(
        **{
            key: jnp.asarray([point.get(key, default) for point, _, _ in members], jnp.float32)
            for key, default in defaults.items()
        }
    )
    names = [",".join(filter(None, [label, f"s{seed}"])) for _, label, seed in members]
    return Population([seed for _, _, seed in members], hyper, names)


class Plan(NamedTuple):
    config: RunConfig  # shared settings; config.sweep records the swept values and the points
    population: Population  # point i trains members i * seeds .. (i + 1) * seeds - 1


def plan(algorithm: Algorithm, options: dict) -> Plan:
    """Parses and checks a sweep's flags (hyperparameters as text) into the population to train.
    Raises ConfigError, before anything is built, on any bad value."""
    hyper_names = field_names(algorithm.Hyper)
    swept, fixed = {}, {}
    for name in hyper_names:
        if options.get(name) is not None:
            values = parse_values(name, options[name])
            if isinstance(values, list) and len(values) == 1:
                fixed[name] = values[0]
            else:
                swept[name] = values
    if not swept:
        raise ConfigError(
            "nothing to sweep: give a hyperparameter several values (--lr 1e-4,3e-4) "
            "or a range with --random N (--lr 1e-5:1e-2:log)"
        )
    count = options.get("random")
    check_value("random", count, int)
    run_options = {key: value for key, value in options.items() if key not in hyper_names and key != "random"}
    run_options["name"] = options.get("name") or time.strftime("sweep-%Y%m%d-%H%M%S")
    config = resolve(algorithm, run_options | fixed)
    points = random_points(swept, count, config.seed) if count else grid_points(swept)
    record = {
        "random": count,
        "values": {name: values._asdict() if isinstance(values, Range) else values for name, values in swept.items()},
        "points": points,
    }
    config = dataclasses.replace(config, sweep=record)
    return Plan(config, sweep_population(algorithm.Hyper, config.hyper, points, config.run_seeds))


def point_rows(summary: dict, points: list[dict[str, float]]) -> list[dict]:
    """One row per point, ranked: points where no seed diverged first, then by IQM of final
    return across the seeds that did not diverge (95% stratified-bootstrap CI), then by the
    median env steps to the target."""
    from jaxrl import stats

    runs = summary["runs"]
    seeds = len(runs) // len(points)
    rows = []
    for i, (point, label) in enumerate(zip(points, point_labels(points), strict=True)):
        members = runs[i * seeds : (i + 1) * seeds]
        healthy = [run for run in members if run["diverged_at_step"] is None]
        scores = np.array([np.nan if run["final_return"] is None else run["final_return"] for run in healthy])
        estimate = stats.bootstrap_ci(scores)
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


def report(summary: dict, config: RunConfig) -> str:
    """Ranks the sweep's points (config.sweep), adds them to summary.json, writes sweep.md and
    learning_curves.png (IQM and 95% CI across seeds per point) into the run dir; returns the markdown."""
    from pathlib import Path

    from jaxrl import compare
    from jaxrl.logging import write_json

    run_dir = Path(summary["run_dir"])
    points = config.sweep["points"]
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
    write_json(run_dir / "summary.json", {**summary, "points": rows})
    (run_dir / "sweep.md").write_text(text + "\n")
    try:
        groups = compare.load_groups([str(run_dir)])  # without the diverged members
    except compare.CompareError:  # no member has finished an episode: no curve to draw
        groups = []
    if groups:
        compare.plot_learning_curves(groups, run_dir / "learning_curves.png", f"{config.algo} on {config.env}")
    return text
