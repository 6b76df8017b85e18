"""Run configuration: presets, a reloadable config.json, flags on top, and validation.

Everything here runs before any env is built or anything is compiled, so a bad setting
costs a fraction of a second and one line of error.
"""

import dataclasses
import importlib.resources
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import tomllib

from jaxrl.algos import MODULES, MULTI_AGENT_ONLY, get_algorithm
from jaxrl.algos.base import UNIT, Algorithm, Interval, field_help, field_names
from jaxrl.core.types import EnvSpec
from jaxrl.envs import (
    UnknownEnvError,
    action_space,
    env_family,
    env_spec,
    is_atari_id,
    resolve_env_id,
    resolve_env_object,
    unsupported_actions,
    video_refusal,
)
from jaxrl.errors import ConfigError, did_you_mean

DEFAULT_ENV = "CartPole-v1"
TRUNCATION = Interval(0.0, 0.5, low_open=True)


def setting(
    default: Any, help: str, *, kind: type | None = None, minimum: int | None = 1, valid=None, shown: str | None = None
) -> Any:
    """A run-level setting, declared once: its default, its --help text and the values it takes
    (integers >= `minimum`, None: any; numbers in `valid`, an Interval, None: any finite one).
    `kind`: the type of its values where the default (None) does not say; `shown`: how --help
    names a default that is no value of its own ("the preset's")."""
    metadata = {"help": help, "kind": kind or type(default), "minimum": minimum, "valid": valid, "shown": shown}
    return dataclasses.field(default=default, metadata=metadata)


# What a run is asked to do, beside the algorithm's fields: the flags of `jaxrl train`, the keywords
# of `jaxrl.train`, the keys of config.json. A preset or --config may set each; a flag wins.
@dataclasses.dataclass(frozen=True, kw_only=True)
class RunSettings:
    env: str = setting(
        DEFAULT_ENV,
        "env id or alias: CartPole, Pong, Breakout, an EnvPool id such as Breakout-v5, a gymnax id such as "
        "Breakout-MinAtar, or package.module:factory, a function returning a gymnax-API (env, params)",
    )
    backend: str | None = setting(
        None,
        "envpool, gymnax or gymnasium",
        kind=str,
        shown="EnvPool wherever it has the env id, else gymnax for its ids, else gymnasium, which is slower",
    )
    seeds: int = setting(1, "number of seeds trained together in one program: seeds K..K+N-1")
    seed: int = setting(0, "first seed K", minimum=0)
    total_steps: int = setting(100_000, "env steps per population member", shown="the preset's budget")
    target_return: float | None = setting(
        None,
        "record when each member's mean return over its last 20 episodes first reaches this; stop when all have",
        kind=float,
        shown="the preset's",
    )
    logdir: str = setting("runs", "root folder of runs")
    name: str | None = setting(
        None, "run name; the run lands in <logdir>/<env>/<algo>/<name>", kind=str, shown="a timestamp"
    )
    log_every: int = setting(4096, "env steps per member between host syncs: logging, progress, the target check")
    env_groups: int = setting(
        1,
        "EnvPool: step each member's envs as this many pools in turn, so the others step while the device acts on "
        "one (on-policy stays on-policy); num_envs must be a multiple",
        shown="1, one synchronous pool; or the preset's for this machine's cores",
    )
    env_threads: int = setting(
        0,
        "EnvPool: threads stepping the envs, all pools together, at most the machine's cores",
        minimum=0,
        shown="0, one per env up to the cores",
    )
    capture_video: int | None = setting(
        None,
        "every this many env steps per member, record a greedy game of the first member into <run dir>/videos/ "
        "and TensorBoard",
        kind=int,
        shown="never",
    )
    eval_every: int | None = setting(
        None,
        "every this many env steps per member, play --eval-episodes greedy games of each member on envs of their "
        "own (whole games, unclipped) and log their mean as eval/return to the loggers and summary.json",
        kind=int,
        shown="never",
    )
    eval_episodes: int = setting(10, "greedy games per member at each --eval-every evaluation")
    checkpoint_every: int | None = setting(
        None,
        "env steps per member between checkpoints; one is always written at the end",
        kind=int,
        shown="one every 10 minutes",
    )
    keep_checkpoints: int = setting(3, "checkpoints kept in <run dir>/checkpoints, the latest ones")
    checkpoint_replay: bool = setting(
        True, "off-policy: put the replay buffer in checkpoints; False keeps them small and a resume refills it"
    )
    track: bool = setting(
        False, "log to Weights & Biases too (pip install 'jaxrl[wandb]'; WANDB_MODE=offline works without a network)"
    )
    wandb_project: str = setting("jaxrl", "W&B project")
    wandb_entity: str | None = setting(None, "W&B entity: a user or team", kind=str, shown="W&B's default")


@dataclasses.dataclass(frozen=True, kw_only=True)
class AtariOptions:
    """The settings of Atari envs (RunConfig.env_options): the standard preprocessing."""

    frame_size: int = setting(84, "Atari: observation height and width")
    episodic_life: bool = setting(True, "Atari: a life loss ends the agent's episode in training")
    reward_clip: bool = setting(True, "Atari: clip training rewards to their sign")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Steering:
    """Flags that steer this one command and are no setting of the run: config.json does not keep them."""

    config: str | None = setting(
        None, "a config.json written by an earlier run: its settings become the defaults", kind=str, shown="none"
    )
    distributed: bool = setting(
        False,
        "one run over several processes (hosts): jax.distributed.initialize() from JAX_COORDINATOR_ADDRESS, "
        "JAX_NUM_PROCESSES, JAX_PROCESS_ID; each trains an equal slice of the population (an actor-learner, "
        "--lag >= 1: every member, on its share of the envs, the gradients averaged)",
    )
    force: bool = setting(
        False,
        "start even where the memory the run needs (estimated before anything is allocated) exceeds what is free",
    )


def setting_help(field: dataclasses.Field) -> str:
    """A setting's --help: its text and its default."""
    shown = field.metadata["shown"] or repr(field.default).strip("'")
    valid = f"; {field.metadata['valid']}" if field.metadata["valid"] else ""
    return f"{field.metadata['help']}{valid} (default: {shown})"


RUN_FIELDS = dataclasses.fields(RunSettings)
ATARI_FIELDS = dataclasses.fields(AtariOptions)
STEERING = tuple(f.name for f in dataclasses.fields(Steering))
# Every run-level flag by name: (type, help), in --help's order.
RUN_FLAGS = {
    f.name: (f.metadata["kind"], setting_help(f)) for f in (*RUN_FIELDS, *ATARI_FIELDS, *dataclasses.fields(Steering))
}
RUN_DEFAULTS = {f.name: f.default for f in RUN_FIELDS}
ATARI_DEFAULTS = {f.name: f.default for f in ATARI_FIELDS}


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunConfig(RunSettings):
    """A resolved run: its settings (RunSettings) and what resolving found; config.json is its JSON."""

    algo: str
    backend: str = "envpool"  # which library steps the envs: "envpool", "gymnax" or "gymnasium"
    name: str
    env_options: dict  # backend settings (Atari preprocessing: AtariOptions' fields)
    static: Any  # the algorithm's Static
    hyper: Any  # the algorithm's Hyper, of Python floats (a population's arrays: training/population.py)
    processes: int = 1  # `--distributed`: how many processes share the population
    sweep: "Sweep | None" = None  # `jaxrl sweep`: the swept values and the points trained, for the record
    memory: dict | None = None  # the estimate of what the run allocates (jaxrl.training.memory), for the record
    pbt: "PBT | None" = None  # `jaxrl pbt`: its settings and the members' starting points (jaxrl.search.pbt_plan)
    # A gymnax-API env object passed from Python: `env_object` records its class (module:name)
    # in config.json; `env_instance` is the (env, params) pair itself, never written.
    env_object: str | None = None
    env_instance: Any = dataclasses.field(default=None, repr=False, compare=False)
    # The env's spec, probed once by `resolve`; never written (config.json names the env).
    spec: EnvSpec | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def run_seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.seeds))

    def to_json(self) -> dict:
        record = dataclasses.asdict(dataclasses.replace(self, env_instance=None, spec=None))  # (deep copies)
        del record["env_instance"], record["spec"]
        return record


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepSettings:
    random: int | None = setting(
        None,
        "sample N points from the given values and ranges instead of training the whole grid",
        kind=int,
        shown="the grid",
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sweep(SweepSettings):
    """config.sweep: what `jaxrl sweep` trained, for the record."""

    values: dict  # hyperparameter -> the values swept (a list, or a range as a dict)
    points: list  # one {hyperparameter: value} per point, in member order


# copy_replay: measured on CartPole DQN (BENCHMARKS.md), a copied replay learns no better than the
# child's own (population medians 275.5 and 275.9) and costs 6% more time and a replay's bytes.
@dataclasses.dataclass(frozen=True, kw_only=True)
class PBTSettings:
    population: int = setting(16, "members per population (per seed of --seeds), at least 4")
    ready_every: int | None = setting(
        None, "env steps per member between exploit steps, at least one rollout", kind=int, shown="a tenth of the run"
    )
    truncation: float = setting(
        0.25, "the bottom fraction of each population that copies a member of the top one", valid=TRUNCATION
    )
    resample_probability: float = setting(
        0.25, "chance that explore draws a value afresh from its range instead of x0.8 / x1.2", valid=UNIT
    )
    copy_replay: bool = setting(False, "off-policy algorithms: exploit copies the parent's replay too (BENCHMARKS.md)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class PBT(PBTSettings):
    """config.pbt: PBT's settings and what `jaxrl.search.pbt_plan` decided."""

    ready_every: int
    perturb: tuple[float, ...]  # explore multiplies a value by one of these
    ranges: dict  # hyperparameter -> its range (Range as a dict)
    points: list  # the members' starting points, in member order


SWEEP_FLAGS = {f.name: (f.metadata["kind"], setting_help(f)) for f in dataclasses.fields(SweepSettings)}
SWEEP_VALUE_HELP = "a value, a list a,b,c (swept), or with --random a range low:high[:log]"
PBT_FIELDS = dataclasses.fields(PBTSettings)
PBT_FLAGS = {f.name: (f.metadata["kind"], setting_help(f)) for f in PBT_FIELDS}


def records_of(saved: dict) -> dict:
    """RunConfig's records of a sweep or PBT run, typed, from its config.json."""
    return {
        "sweep": Sweep(**saved["sweep"]) if saved.get("sweep") else None,
        "pbt": PBT(**saved["pbt"] | {"perturb": tuple(saved["pbt"]["perturb"])}) if saved.get("pbt") else None,
        "processes": saved.get("processes", 1),
    }


VALUE_HELP = {"sweep": SWEEP_VALUE_HELP, "pbt": "a value (fixed) or a range low:high[:log] (tuned)"}


def flag_table(algorithm: Algorithm, command: str) -> dict[str, tuple[type, str]]:
    """Every flag of `jaxrl <command> <algo>` by field name: (type, help), the help written beside
    each field. `sweep` and `pbt` take each numeric hyperparameter as text: a value, a list or a range."""
    table = dict(RUN_FLAGS | {"sweep": SWEEP_FLAGS, "pbt": PBT_FLAGS}.get(command, {}))
    for f in dataclasses.fields(algorithm.Static):
        table[f.name] = (f.type, f"{field_help(f)} (default: the preset's, else {f.default!r})")
    for f in dataclasses.fields(algorithm.Hyper):
        default = f"default: the preset's, else {f.default!r}"
        valid = f.metadata["valid"]
        if command in VALUE_HELP:
            table[f.name] = (str, f"{field_help(f)}; {valid}: {VALUE_HELP[command]} ({default})")
        else:
            table[f.name] = (f.type, f"{field_help(f)}; {valid} ({default})")
    return table


def unknown_flag(name: str, known, command: str) -> ConfigError:
    hint = taken_by(name) or did_you_mean(flag(name), [flag(k) for k in known], quote="")
    return ConfigError(f"unknown flag {flag(name)} for jaxrl {command}{hint}")


def taken_by(name: str) -> str:
    """'; --recurrent is taken by ppo' where the field `name` is another algorithm's Static's (a
    setting only some algorithms have), else ''. Imports every algorithm: for error lines only."""
    takers = [algo for algo in MODULES if name in field_names(get_algorithm(algo).Static)]
    return f"; {flag(name)} is taken by {', '.join(takers)}" if takers else ""


def setting_types(algorithm: Algorithm) -> dict[str, type]:
    """Every setting of a run by name, with the type of its value (a tuple: a list of integers)."""
    types = {key: kind for key, (kind, _) in RUN_FLAGS.items()} | {"algo": str}
    types |= {f.name: type(f.default) for f in dataclasses.fields(algorithm.Static)}
    return types | dict.fromkeys(field_names(algorithm.Hyper), float)


EXPECTED = {bool: "True or False", int: "int", float: "float", str: "str", tuple: "a list of integers"}


def check_options(algorithm: Algorithm, command: str, options: dict) -> None:
    """The keywords of a Python call (`jaxrl.train("ppo", lr=3e-4)`): each a flag's field name with a
    value of its type, else the one line the command line prints for the same mistake. A sweep's
    hyperparameter values are checked as values (`jaxrl.search.python_values`)."""
    table, types = flag_table(algorithm, command), setting_types(algorithm)
    for name, value in options.items():
        if name not in table:
            raise unknown_flag(name, table, f"{command} {algorithm.name}")
        if value is None or table[name][0] is str and types.get(name) is float:
            continue  # None: not given
        if not has_type(value, types.get(name, table[name][0])):
            raise ConfigError(f"invalid {flag(name)} {value!r}: expected {EXPECTED[types.get(name, table[name][0])]}")


def load_preset(algo: str, env_id: str, family: str, backend: str | None = None) -> dict:
    """The algorithm's tuned defaults for the env: package data (`jaxrl/presets/<algo>.toml`), so
    a wheel install has them too. Tables apply in order: the family's, the id's (every backend),
    then "<backend>:<id>" (one backend: `["gymnax:CartPole-v1"]`)."""
    path = importlib.resources.files("jaxrl") / "presets" / f"{algo}.toml"
    if not path.is_file():
        return {}
    tables = tomllib.loads(path.read_text())
    preset = dict(tables.get(family, {}))
    preset.update(machine_preset(preset.pop("cores", {}), machine_cores()))
    preset.update(tables.get(env_id.removeprefix("ALE/"), {}))  # ALE/Pong-v5 takes Pong-v5's table
    preset.update(tables.get(f"{backend}:{env_id}", {}))
    return preset


def machine_cores() -> int:
    """The cores this process may run on: how many envs EnvPool's threads step at once."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine_preset(by_cores: dict, cores: int) -> dict:
    """A family's settings for a machine (`[atari.cores.16]`: from 16 cores on): the table with
    the most cores at or below `cores`, {} where there is none."""
    fitting = [int(key) for key in by_cores if int(key) <= cores]
    return dict(by_cores[str(max(fitting))]) if fitting else {}


TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", tuple: "a list of integers"}


def has_type(value: Any, kind: type) -> bool:
    """Whether a JSON value is a setting of this type (bools are not numbers here)."""
    if kind is tuple:
        return isinstance(value, list | tuple) and all(has_type(v, int) for v in value)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def load_config_file(path: str, types: dict[str, type]) -> dict:
    """Reads a config.json into one flat dict of settings, by name; unknown keys and values of
    the wrong type are an error, null means "not set"."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"--config {path}: invalid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a JSON object")
    # records of how the run was made, not settings: --config takes the shared ones
    records = ("static", "hyper", "env_options", "sweep", "processes", "memory", "pbt", "env_object")
    flat = {key: value for key, value in data.items() if key not in records}
    for section in ("static", "hyper", "env_options"):
        settings = data.get(section) or {}
        if not isinstance(settings, dict):
            raise ConfigError(f"--config {path}: {section} must be a JSON object")
        flat.update({key: value for key, value in settings.items() if key not in DERIVED_ENV_OPTIONS})
    unknown = sorted(set(flat) - set(types))
    if unknown:
        raise ConfigError(f"--config {path}: unknown keys {', '.join(unknown)}")
    for key, value in flat.items():
        if value is not None and not has_type(value, types[key]):
            raise ConfigError(f"--config {path}: {key} must be {TYPE_NAMES[types[key]]}, not {json.dumps(value)}")
    return {key: value for key, value in flat.items() if value is not None}


def check_value(name: str, value: Any, expected_type: type, minimum: int | None = 1, valid=None) -> None:
    """Raises ConfigError unless `value` is of the type and, for integers, >= `minimum` (None:
    any), for floats in `valid` (an Interval, or None: any finite number)."""
    if value is None:
        return
    if expected_type is float and not (isinstance(value, (int, float)) and math.isfinite(value)):
        raise ConfigError(f"invalid {flag(name)} {value!r}: must be a finite number")
    if expected_type is int and minimum is not None and (not isinstance(value, int) or value < minimum):
        raise ConfigError(f"invalid {flag(name)} {value!r}: must be an integer >= {minimum}")
    floor = 1 if minimum is None else minimum  # (device indices start at 0)
    if expected_type is tuple and not all(v >= floor for v in value):
        raise ConfigError(f"invalid {flag(name)} {' '.join(map(str, value))}: must be integers >= {floor}")
    if valid is not None and value not in valid:
        raise ConfigError(f"invalid {flag(name)} {value}: must be {valid}")


def check_static(field: dataclasses.Field, value: Any) -> None:
    check_value(field.name, value, type(field.default), minimum=field.metadata.get("minimum", 1))


def check_hyper(field: dataclasses.Field, value: Any) -> None:
    check_value(field.name, value, float, valid=field.metadata.get("valid"))


def check_env_stepping(merged: dict, backend: str) -> None:
    """`--env-groups` and `--env-threads` against the backend, `--num-envs` and the machine."""
    groups, threads, cores = merged["env_groups"], merged["env_threads"], machine_cores()
    if groups > 1 and backend != "envpool":
        raise ConfigError(f"--env-groups {groups}: only EnvPool's pools are pipelined (this env runs on {backend})")
    if merged["num_envs"] % groups:
        raise ConfigError(
            f"invalid --num-envs {merged['num_envs']}: --env-groups {groups} steps them as {groups} pools of equal "
            f"size: give a multiple of {groups}"
        )
    if threads > cores:
        raise ConfigError(f"invalid --env-threads {threads}: this machine has {cores} cores")
    if threads % groups:
        raise ConfigError(f"invalid --env-threads {threads}: the {groups} pools of --env-groups share it equally")


def check_agents(algo: str, num_envs: int, spec: EnvSpec) -> None:
    """A multi-agent algorithm against a single-agent env, and --num-envs against the agents of a
    multi-agent one (its rows: games x agents)."""
    if algo in MULTI_AGENT_ONLY and not spec.agents:
        raise ConfigError(f"{algo} trains multi-agent envs; use {MULTI_AGENT_ONLY[algo]} for {spec.env_id}")
    agents = len(spec.agents)
    if agents and num_envs % agents:
        raise ConfigError(
            f"invalid --num-envs {num_envs}: {spec.env_id}'s games have {agents} agents, one row each: "
            f"give a multiple of {agents}"
        )


def check_critic(critic: str, recurrent: str, spec: EnvSpec) -> None:
    """A centralised critic reads a multi-agent env's world state: refused where the env has none.
    With a recurrent core it takes the observation and the world state side by side, as vectors."""
    if critic == "central" and not spec.world_state_size:
        raise ConfigError(
            f"--critic central reads a multi-agent env's world state; {spec.env_id} has none (use a JaxMARL id)"
        )
    if critic == "central" and recurrent != "none" and len(spec.obs_shape) != 1:
        raise ConfigError(
            f"--critic central with --recurrent takes vector observations; {spec.env_id}'s are {spec.obs_shape}"
        )


# env_options a run derives from its settings (`env_options_of`), not settings of their own
DERIVED_ENV_OPTIONS = ("world_state",)


def env_options_of(env_id: str, merged: dict) -> dict:
    """The backend settings of a run: Atari's preprocessing; the world state in each step's info
    for a centralised critic (mappo)."""
    if is_atari_id(env_id):
        return {f.name: merged[f.name] for f in ATARI_FIELDS}
    return {"world_state": True} if merged.get("critic") == "central" else {}


def resolve(algorithm: Algorithm, options: dict, env_instance: tuple | None = None) -> RunConfig:
    """The run `options` ask for (the parsed flags by field name, None where not given), merged
    over --config, the preset and the defaults, validated, and built into a RunConfig.
    `env_instance`: a gymnax-API (env, params) from Python, trained on instead of an env id."""
    merged, env_id, backend = merge(algorithm, options, env_instance)
    static = validate(algorithm, merged, env_id, backend, env_instance)
    return build(algorithm, merged, static, env_id, backend, options.get("name"), env_instance)


def find_env(options: dict, from_file: dict, env_instance: tuple | None) -> tuple[str, str]:
    """(env id, backend) of the flags, else --config's, else the default."""
    try:
        if env_instance is not None:
            return resolve_env_object(*env_instance), "gymnax"
        return resolve_env_id(
            options.get("env") or from_file.get("env") or DEFAULT_ENV,
            options.get("backend") or from_file.get("backend"),
        )
    except UnknownEnvError as error:
        raise ConfigError(str(error)) from None


def merge(algorithm: Algorithm, options: dict, env_instance: tuple | None) -> tuple[dict, str, str]:
    """(every setting by name, env id, backend): lowest first, the fields' defaults, the run's,
    Atari's, the preset, --config, the flags given."""
    # what a config.json may hold: every setting but the flags that only steer this command
    types = {key: kind for key, kind in setting_types(algorithm).items() if key not in STEERING}
    from_file = load_config_file(options["config"], types) if options.get("config") else {}
    if from_file.get("algo", algorithm.name) != algorithm.name:
        raise ConfigError(
            f"--config {options['config']} is for algorithm '{from_file['algo']}', not '{algorithm.name}'"
        )
    env_id, backend = find_env(options, from_file, env_instance)
    fields = (*dataclasses.fields(algorithm.Static), *dataclasses.fields(algorithm.Hyper))
    merged: dict[str, Any] = dict(RUN_DEFAULTS) | {f.name: f.default for f in fields}
    merged.update(ATARI_DEFAULTS if is_atari_id(env_id) else {})
    merged.update(load_preset(algorithm.name, env_id, env_family(env_id, backend), backend))
    merged.update({key: value for key, value in from_file.items() if key not in ("env", "backend", "name", "algo")})
    merged.update({key: value for key, value in options.items() if value is not None and key in types})
    for f in dataclasses.fields(algorithm.Static):
        if isinstance(f.default, tuple):
            merged[f.name] = tuple(merged[f.name])
    return merged, env_id, backend


def check_setting(field: dataclasses.Field, value: Any) -> None:
    """A run setting's value against its declaration (`setting`)."""
    meta = field.metadata
    check_value(field.name, value, meta["kind"], minimum=meta["minimum"], valid=meta["valid"])


def validate(algorithm: Algorithm, merged: dict, env_id: str, backend: str, env_instance: tuple | None):
    """Raises ConfigError, in one line, on the first bad setting; returns the algorithm's Static."""
    space = action_space(env_id, backend, env_instance)
    if space.partition("(")[0] not in algorithm.action_spaces:
        raise ConfigError(str(unsupported_actions(algorithm.name, algorithm.action_spaces, space)))
    for f in dataclasses.fields(algorithm.Static):
        check_static(f, merged[f.name])
    spec = env_spec(env_id, backend, instance=env_instance)
    check_agents(algorithm.name, merged["num_envs"], spec)
    check_critic(merged.get("critic", "local"), merged.get("recurrent", "none"), spec)
    for f in dataclasses.fields(algorithm.Hyper):
        check_hyper(f, merged[f.name])
    for f in (*RUN_FIELDS, *(ATARI_FIELDS if is_atari_id(env_id) else ())):
        check_setting(f, merged[f.name])
    check_env_stepping(merged, backend)
    if merged["capture_video"] is not None:
        refusal = video_refusal(env_id, backend, env_instance)
        if refusal:
            raise ConfigError(f"--capture-video: {refusal}")
    static = algorithm.Static(**{f.name: merged[f.name] for f in dataclasses.fields(algorithm.Static)})
    try:
        algorithm.check(static)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    steps_per_iteration = static.num_envs * static.rollout_steps
    if merged["total_steps"] < steps_per_iteration:
        raise ConfigError(
            f"--total-steps {merged['total_steps']} is below one rollout "
            f"(num_envs * rollout_steps = {steps_per_iteration})"
        )
    return static


def build(
    algorithm: Algorithm, merged: dict, static, env_id: str, backend: str, name: str | None, env_instance
) -> RunConfig:
    """The RunConfig of validated settings; `name` (None: a timestamp) is never taken from --config."""
    env_options = env_options_of(env_id, merged)
    target = merged["target_return"]
    settings = {f.name: merged[f.name] for f in RUN_FIELDS} | dict(
        env=env_id,
        backend=backend,
        name=name or time.strftime("%Y%m%d-%H%M%S"),
        target_return=None if target is None else float(target),
        checkpoint_replay=bool(merged["checkpoint_replay"]),
        track=bool(merged["track"]),
    )
    return RunConfig(
        **settings,
        algo=algorithm.name,
        env_options=env_options,
        static=static,
        hyper=algorithm.Hyper(**{f.name: float(merged[f.name]) for f in dataclasses.fields(algorithm.Hyper)}),
        env_object=None if env_instance is None else f"{type(env_instance[0]).__module__}:{env_id}",
        env_instance=env_instance,
        spec=env_spec(env_id, backend, env_instance, **env_options),
    )
