"""`jaxrl compare`: learning curves and final returns of finished runs, read back from their
TensorBoard files and aggregated per group with the IQM and 95% bootstrap intervals.
"""

import json
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxrl.analysis import figures
from jaxrl.analysis.statistics import Estimate, bootstrap_ci, bootstrap_curve_ci
from jaxrl.errors import ConfigError

# Preferred first: the mean of the last 20 episodes, the quantity summary.json reports. Runs
# written by other tools only have the per-iteration mean of the episodes that just ended.
RETURN_TAGS = ("charts/recent_return", "charts/episodic_return")
GRID_POINTS = 100


class CompareError(ConfigError):
    """Bad input to `jaxrl compare`; the message is one line naming the path."""


class Member(NamedTuple):
    name: str  # TensorBoard run name, e.g. "s0" or "lr=0.001,s2"
    steps: np.ndarray  # [n] env steps, ascending; empty when no episode ever ended
    returns: np.ndarray  # [n]


class Group(NamedTuple):
    """Members of one run dir that share hyperparameters: they differ only by seed."""

    env: str
    algo: str
    run: str  # the run dir's name
    point: str  # the swept values, "lr=0.001,ent_coef=0.01"; "" for a plain or PBT run
    members: list[Member]

    @property
    def label(self) -> str:
        """The group's name in tables, which list runs of several envs and algorithms:
        "<algo> <run> [<point>]"."""
        label = f"{self.algo} {self.run}"
        return f"{label} [{self.point}]" if self.point else label

    @property
    def fields(self) -> dict[str, str]:
        """What names the group in a figure, key by key: figures.legend_labels keeps what differs."""
        values = dict(item.split("=", 1) for item in self.point.split(",")) if self.point else {}
        return {
            "algo": self.algo,
            "run": self.run,
            **{key: f"{key}={value}" for key, value in values.items()},
            "runs": f"{len(self.members)} runs",
        }


def find_run_dirs(path: str) -> list[Path]:
    """`path` itself when it holds a config.json, else every folder below it that does."""
    root = Path(path)
    if not root.exists():
        raise CompareError(f"{path}: no such file or directory")
    if (root / "config.json").is_file():
        return [root]
    # hidden folders are not runs (a run dir that a kill stopped before it was renamed into place)
    run_dirs = sorted(
        config.parent
        for config in root.rglob("config.json")
        if not any(part.startswith(".") for part in config.relative_to(root).parts)
    )
    if not run_dirs:
        raise CompareError(f"{path}: no runs found (no config.json in it or below it)")
    return run_dirs


def member_point(member: str) -> str:
    """The swept values of a member name: "lr=0.001,ent_coef=0.01,s2" -> "lr=0.001,ent_coef=0.01";
    "s0" and PBT's "m03" or "p1-m03" -> "" (a PBT population is one group, as seeds are)."""
    point, _, last = member.rpartition(",")
    return point if re.fullmatch(r"s\d+|(p\d+-)?m\d+", last) else member


def member_order(member: str) -> tuple[str, int, str]:
    point = member_point(member)
    seed = member[len(point) :].lstrip(",s")
    return point, int(seed) if seed.isdigit() else -1, member


def member_dirs(run_dir: Path) -> list[Path]:
    """Subfolders of a run dir that hold TensorBoard event files, by point, then by seed (s2 before s10)."""
    folders = [child for child in run_dir.iterdir() if child.is_dir() and any(child.glob("events.out.tfevents.*"))]
    return sorted(folders, key=lambda folder: member_order(folder.name))


def read_returns(member_dir: Path) -> Member:
    """The member's return scalars (the first of RETURN_TAGS it logged), sorted by step."""
    # lazy: TensorBoard's reader (~0.5 s of imports) is for reading finished runs only
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    events = EventAccumulator(str(member_dir), size_guidance={SCALARS: 0}).Reload()
    logged = events.Tags()[SCALARS]
    tag = next((tag for tag in RETURN_TAGS if tag in logged), None)
    scalars = events.Scalars(tag) if tag else []
    steps = np.array([event.step for event in scalars], dtype=np.int64)
    returns = np.array([event.value for event in scalars], dtype=np.float64)
    # Stable, so of two values logged at one step the later stays last.
    order = np.argsort(steps, kind="stable")
    return Member(member_dir.name, steps[order], returns[order])


def read_config(run_dir: Path) -> dict:
    try:
        config = json.loads((run_dir / "config.json").read_text())
        return {key: str(config[key]) for key in ("algo", "env")}
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise CompareError(f"{run_dir / 'config.json'}: not a jaxrl config.json ({error!r})") from None


def diverged_members(run_dir: Path) -> set[str]:
    """Members that summary.json marks diverged: their networks froze, so their curves say
    nothing about the hyperparameters; left out here as sweep.md leaves them out."""
    try:
        runs = json.loads((run_dir / "summary.json").read_text())["runs"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
        return set()  # unfinished, or not a jaxrl summary
    return {run["run"] for run in runs if run.get("diverged_at_step") is not None}


def load_run(run_dir: Path) -> list[Group]:
    """One group per hyperparameter point of the run, labelled "<algo> <run name> [<point>]"."""
    config = read_config(run_dir)
    members = [read_returns(folder) for folder in member_dirs(run_dir)]
    if not any(member.steps.size for member in members):
        raise CompareError(f"{run_dir}: no {' or '.join(RETURN_TAGS)} scalars in its TensorBoard files")
    diverged = diverged_members(run_dir)
    by_point: dict[str, list[Member]] = {}
    for member in members:
        if member.name not in diverged:
            by_point.setdefault(member_point(member.name), []).append(member)
    # The folder name, not config["name"]: a reused name gets a -2 suffix on disk.
    return [
        Group(config["env"], config["algo"], run_dir.name, point, point_members)
        for point, point_members in by_point.items()
    ]


def load_groups(paths: list[str]) -> list[Group]:
    """Groups of every run dir at or below `paths`, each run dir read once."""
    run_dirs = dict.fromkeys(run_dir.resolve() for path in paths for run_dir in find_run_dirs(path))
    return [group for run_dir in run_dirs for group in load_run(run_dir)]


def step_grid(groups: list[Group], points: int = GRID_POINTS) -> np.ndarray:
    """[points] env steps from 0 to where the shortest member's log ends, so every curve spans it."""
    ends = [member.steps[-1] for group in groups for member in group.members if member.steps.size]
    return np.linspace(0, min(ends), points)


def value_at(member: Member, grid: np.ndarray) -> np.ndarray:
    """[X]: the last value logged at or before each x of the grid; NaN before the first."""
    if not member.steps.size:
        return np.full(grid.shape, np.nan)
    last = np.searchsorted(member.steps, grid, side="right") - 1
    return np.where(last >= 0, member.returns[np.maximum(last, 0)], np.nan)


def group_curve(group: Group, grid: np.ndarray) -> Estimate:
    """IQM over the group's members at every x of the grid, with its 95% bootstrap band."""
    return bootstrap_curve_ci(np.stack([value_at(member, grid) for member in group.members]))


def final_returns(group: Group) -> np.ndarray:
    """[members]: each member's last logged return; NaN for one that never logged any."""
    return np.array([member.returns[-1] if member.returns.size else np.nan for member in group.members])


def plot_learning_curves(groups: list[Group], png_path: Path | str) -> list[figures.Ranked]:
    """figures.curves_figure of the groups (one env): IQM learning curves on one shared step grid
    beside the ranked final returns; returns the aggregate panel's rows."""
    grid = step_grid(groups)
    series = [figures.Series(group.fields, group_curve(group, grid), final_returns(group)) for group in groups]
    return figures.curves_figure(series, grid, groups[0].env, png_path)


def results_table(groups: list[Group]) -> str:
    """A markdown table of the groups' final returns, best IQM first (groups without any return last)."""
    rows = []
    for group in groups:
        scores = final_returns(group)
        scored = int(np.sum(~np.isnan(scores)))
        estimate = bootstrap_ci(scores)
        mean = np.nanmean(scores) if scored else np.nan
        runs = f"{scored}" if scored == len(scores) else f"{scored} of {len(scores)}"
        interval = f"{estimate.value:.1f} [{estimate.low:.1f}, {estimate.high:.1f}]"
        rows.append((estimate.value, f"| {group.label} | {interval} | {mean:.1f} | {runs} |"))
    rows.sort(key=lambda row: -np.inf if np.isnan(row[0]) else row[0], reverse=True)
    header = "| run | final return IQM [95% CI] | mean | runs |\n|---|---|---|---|"
    return "\n".join([header, *(row for _, row in rows)])


def by_env(groups: list[Group]) -> dict[str, list[Group]]:
    envs: dict[str, list[Group]] = {}
    for group in groups:
        envs.setdefault(group.env, []).append(group)
    return envs


def results_markdown(groups: list[Group]) -> str:
    """Per env, a table of final returns; the header line says what the numbers are."""
    sections = [
        "Final return: each run's last logged mean return of its last 20 episodes (`charts/recent_return`; "
        "`charts/episodic_return` where absent). IQM over runs with a 95% percentile bootstrap CI."
    ]
    for env, env_groups in by_env(groups).items():
        sections.append(f"## {env}\n\n{results_table(env_groups)}")
    return "\n\n".join(sections) + "\n"


def main(paths: list[str], out: str = "comparison") -> str:
    """Writes <out>/<env>.png per env and <out>/results.md; returns the markdown."""
    groups = load_groups(paths)
    if not groups:
        raise CompareError(f"{' '.join(paths)}: every run in it diverged; nothing to compare")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for env, env_groups in by_env(groups).items():
        plot_learning_curves(env_groups, out_dir / f"{env}.png")
    markdown = results_markdown(groups)
    (out_dir / "results.md").write_text(markdown)
    return markdown
