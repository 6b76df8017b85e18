"""Hyperparameter search spaces: the values a sweep trains, as a grid or a random sample of
points (each point times the seeds is trained as ONE population in one compiled program).

Only the algorithm's `Hyper` fields can be searched: they are float arrays with the population
axis. Static fields fix shapes or the program itself (widths, num_envs, epochs) and need
separate runs.
"""

import dataclasses
import itertools
import math
import time
from typing import Any, NamedTuple

import numpy as np

from jaxrl.algos.base import Algorithm
from jaxrl.config import PBT, PBT_FIELDS, RunConfig, Sweep, check_hyper, check_setting, flag, resolve
from jaxrl.errors import ConfigError


class Range(NamedTuple):
    """`low:high` or `low:high:log`, sampled by `--random N`."""

    low: float
    high: float
    log: bool


Values = list[float] | Range  # what one hyperparameter of a search takes


def parse_number(field: dataclasses.Field, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"invalid {flag(field.name)} value {text!r}: not a number") from None
    check_hyper(field, value)
    return value


def checked_list(field: dataclasses.Field, values: list[float], given: str) -> list[float]:
    if len(set(values)) != len(values):
        raise ConfigError(f"invalid {flag(field.name)} {given}: a value is repeated")
    return values


def checked_range(field: dataclasses.Field, low: float, high: float, log: bool, given: str) -> Range:
    if not low < high:
        raise ConfigError(f"invalid {flag(field.name)} {given}: low must be below high")
    if log and low <= 0:
        raise ConfigError(f"invalid {flag(field.name)} {given}: a log range needs low > 0")
    return Range(low, high, log)


def parse_values(field: dataclasses.Field, text: str) -> Values:
    """`3e-4` -> [3e-4]; `1e-4,3e-4` -> [1e-4, 3e-4]; `1e-5:1e-2:log` -> Range. Checked against
    the hyperparameter's valid range, value by value (a range by its ends)."""
    if ":" not in text:
        return checked_list(field, [parse_number(field, part) for part in text.split(",")], text)
    parts = text.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
        raise ConfigError(f"invalid {flag(field.name)} {text}: a range is low:high or low:high:log")
    return checked_range(field, parse_number(field, parts[0]), parse_number(field, parts[1]), len(parts) == 3, text)


def python_values(field: dataclasses.Field, value: Any) -> Values:
    """The Python API's form of the same: a number, a list of numbers, or a tuple (low, high) /
    (low, high, "log") for a range; also the command line's text."""
    if isinstance(value, str):
        return parse_values(field, value)
    given = repr(value)
    if isinstance(value, tuple):
        if len(value) not in (2, 3) or (len(value) == 3 and value[2] != "log"):
            raise ConfigError(f"invalid {field.name}={given}: a range is (low, high) or (low, high, 'log')")
        low, high = (number(field, v, given) for v in value[:2])
        return checked_range(field, low, high, len(value) == 3, given)
    if isinstance(value, list):
        return checked_list(field, [number(field, v, given) for v in value], given)
    return [number(field, value, given)]


def number(field: dataclasses.Field, value: Any, given: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"invalid {field.name}={given}: expected numbers")
    check_hyper(field, float(value))
    return float(value)


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
        return sample_range(rng, value) if isinstance(value, Range) else float(rng.choice(value))

    return [{name: sample(value) for name, value in values.items()} for _ in range(count)]


def sample_range(rng: np.random.Generator, value: Range) -> float:
    """A uniform draw from the range, log-uniform for `low:high:log`."""
    if value.log:
        return float(math.exp(rng.uniform(math.log(value.low), math.log(value.high))))
    return float(rng.uniform(value.low, value.high))


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


def plan(
    algorithm: Algorithm, options: dict, values: dict[str, Values], count: int | None = None, env_instance=None
) -> RunConfig:
    """The run config of a sweep over `values` (by Hyper field; each parsed by `parse_values` or
    `python_values`), the other settings from `options` as for a single run; `count`: sample
    that many points (`--random`) instead of the grid; `env_instance`: a gymnax-API (env, params)
    from Python. `config.sweep` records the values and the points. Raises ConfigError, before
    anything is built, on any bad value."""
    swept = {name: value for name, value in values.items() if isinstance(value, Range) or len(value) > 1}
    fixed = {name: value[0] for name, value in values.items() if name not in swept}
    if not swept:
        raise ConfigError(
            "nothing to sweep: give a hyperparameter several values (--lr 1e-4,3e-4) "
            "or a range with --random N (--lr 1e-5:1e-2:log)"
        )
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ConfigError(f"invalid --random {count!r}: must be an integer >= 1")
    run_options = dict(options, name=options.get("name") or time.strftime("sweep-%Y%m%d-%H%M%S"))
    config = resolve(algorithm, run_options | fixed, env_instance)
    points = random_points(swept, count, config.seed) if count else grid_points(swept)
    values = {name: value._asdict() if isinstance(value, Range) else value for name, value in swept.items()}
    return dataclasses.replace(config, sweep=Sweep(random=count, values=values, points=points))


PBT_IN_ONE_PROCESS = "--distributed: PBT trains in one process (its exploit step copies members between devices)"
PERTURB = (0.8, 1.2)  # explore: each hyperparameter times one of these (Jaderberg et al., 2017)


def pbt_plan(algorithm: Algorithm, options: dict, values: dict[str, Values], env_instance=None) -> RunConfig:
    """The run config of population-based training: `population` members per seed (`--seeds S`
    independent populations, S x population members in one program) start from points sampled
    in the ranges of `values`; every `ready_every` env steps the bottom `truncation` of each
    population copies a top member and explores. `options`: the run's settings as for a single
    run, and PBT's (PBT_DEFAULTS' and ready_every; None or missing: the default). `config.pbt`
    records the settings and the starting points; `env_instance`: a gymnax-API (env, params) from
    Python. Raises ConfigError, before anything is built, on any bad value."""
    settings = {f.name: f.default if options.get(f.name) is None else options[f.name] for f in PBT_FIELDS}
    options = {key: value for key, value in options.items() if key not in settings}
    lists = [flag(name) for name, value in values.items() if isinstance(value, list) and len(value) > 1]
    if lists:
        raise ConfigError(f"{', '.join(lists)}: PBT explores ranges; give low:high or low:high:log")
    ranges = {name: value for name, value in values.items() if isinstance(value, Range)}
    fixed = {name: value[0] for name, value in values.items() if name not in ranges}
    if not ranges:
        raise ConfigError("nothing to tune: give a hyperparameter a range (--lr 1e-5:1e-2:log)")
    for f in PBT_FIELDS:
        check_setting(f, settings[f.name])
    if not isinstance(settings["copy_replay"], bool):
        raise ConfigError(f"invalid --copy-replay {settings['copy_replay']!r}: expected True or False")
    if settings["population"] < 4:
        raise ConfigError(f"invalid --population {settings['population']}: PBT needs at least 4 members per population")
    run_options = dict(options, name=options.get("name") or time.strftime("pbt-%Y%m%d-%H%M%S"))
    config = resolve(algorithm, run_options | fixed, env_instance)
    rollout, ready_every = config.static.num_envs * config.static.rollout_steps, settings.pop("ready_every")
    if ready_every is None:
        ready_every = max(1, config.total_steps // 10 // rollout) * rollout
    if ready_every < rollout:
        raise ConfigError(
            f"--ready-every {ready_every} is shorter than one rollout (num_envs * rollout_steps = {rollout})"
        )
    if ready_every >= config.total_steps:
        raise ConfigError(
            f"--ready-every {ready_every} is not below --total-steps {config.total_steps}: no member would ever be ready"
        )
    points = random_points(ranges, config.seeds * settings["population"], config.seed)
    spans = {name: value._asdict() for name, value in ranges.items()}
    record = PBT(**settings, ready_every=ready_every, perturb=PERTURB, ranges=spans, points=points)
    return dataclasses.replace(config, pbt=record)
