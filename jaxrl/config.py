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

from jaxrl.algos.base import Algorithm, field_help, field_names
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


# Run-level flags: name -> (type, help). Every flag defaults to None, meaning: take it from
# --config, else the preset, else the default named in the help.
RUN_FLAGS = {
    "env": (
        str,
        "env id or alias: CartPole, Pong, Breakout, an EnvPool id such as Breakout-v5, a gymnax id such as "
        "Breakout-MinAtar, or package.module:factory, a function returning a gymnax-API (env, params) "
        "(default CartPole-v1)",
    ),
    "backend": (
        str,
        "envpool, gymnax or gymnasium (default: EnvPool wherever it has the env id, else gymnax for its ids, "
        "else gymnasium, which is slower)",
    ),
    "seeds": (int, "number of seeds trained together in one program: seeds K..K+N-1 (default 1)"),
    "seed": (int, "first seed K (default 0)"),
    "total_steps": (int, "env steps per population member (default: the preset's budget)"),
    "target_return": (
        float,
        "record when each member's mean return over its last 20 episodes first reaches this; "
        "stop when all have (default: the preset's)",
    ),
    "logdir": (str, "root folder of runs (default runs)"),
    "name": (str, "run name (default: a timestamp); the run lands in <logdir>/<env>/<algo>/<name>"),
    "config": (str, "a config.json written by an earlier run: its settings become the defaults"),
    "log_every": (int, "env steps per member between host syncs: logging, progress, the target check"),
    "env_groups": (
        int,
        "EnvPool: step each member's envs as this many pools in turn, so the others step while the device acts on "
        "one (on-policy stays on-policy); num_envs must be a multiple (default 1: one synchronous pool, or the "
        "preset's for this machine's cores)",
    ),
    "env_threads": (
        int,
        "EnvPool: threads stepping the envs, all pools together, at most the machine's cores (default 0: one per "
        "env up to the cores)",
    ),
    "frame_size": (int, "Atari: observation height and width (default 84)"),
    "episodic_life": (bool, "Atari: a life loss ends the agent's episode in training (default True)"),
    "reward_clip": (bool, "Atari: clip training rewards to their sign (default True)"),
    "distributed": (
        bool,
        "one run over several processes (hosts): jax.distributed.initialize() from JAX_COORDINATOR_ADDRESS, "
        "JAX_NUM_PROCESSES, JAX_PROCESS_ID; each trains an equal slice of the population (default False)",
    ),
    "capture_video": (
        int,
        "every this many env steps per member, record a greedy game of the first member into <run dir>/videos/ "
        "and TensorBoard (default: never)",
    ),
    "eval_every": (
        int,
        "every this many env steps per member, play --eval-episodes greedy games of each member on envs of their "
        "own (whole games, unclipped) and log their mean as eval/return to the loggers and summary.json "
        "(default: never)",
    ),
    "eval_episodes": (int, "greedy games per member at each --eval-every evaluation (default 10)"),
    "checkpoint_every": (
        int,
        "env steps per member between checkpoints (default: one every 10 minutes); one is always written at the end",
    ),
    "keep_checkpoints": (int, "checkpoints kept in <run dir>/checkpoints, the latest ones (default 3)"),
    "checkpoint_replay": (
        bool,
        "off-policy: put the replay buffer in checkpoints; False keeps them small and a resume refills it (default True)",
    ),
    "force": (
        bool,
        "start even where the memory the run needs (estimated before anything is allocated) exceeds what is free "
        "(default False)",
    ),
    "track": (
        bool,
        "log to Weights & Biases too (pip install 'jaxrl[wandb]'; WANDB_MODE=offline works without a network)",
    ),
    "wandb_project": (str, "W&B project (default jaxrl)"),
    "wandb_entity": (str, "W&B entity: a user or team (default: W&B's default)"),
}

RUN_DEFAULTS = dict(
    seeds=1,
    seed=0,
    total_steps=100_000,
    target_return=None,
    logdir="runs",
    log_every=4096,
    env_groups=1,
    env_threads=0,
    capture_video=None,
    eval_every=None,
    eval_episodes=10,
    checkpoint_every=None,
    keep_checkpoints=3,
    checkpoint_replay=True,
    track=False,
    wandb_project="jaxrl",
    wandb_entity=None,
)
ATARI_DEFAULTS = dict(frame_size=84, episodic_life=True, reward_clip=True)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    algo: str
    env: str
    seed: int
    seeds: int
    total_steps: int
    target_return: float | None
    logdir: str
    name: str
    log_every: int
    env_options: dict  # backend settings (Atari preprocessing)
    static: dict  # the algorithm's static config, by field
    hyper: dict  # the algorithm's numeric hyperparameters, by field
    backend: str = "envpool"  # which library steps the envs: "envpool", "gymnax" or "gymnasium"
    processes: int = 1  # `--distributed`: how many processes share the population
    sweep: dict | None = None  # `jaxrl sweep`: the swept values and the points trained, for the record
    memory: dict | None = None  # the estimate of what the run allocates (jaxrl.training.memory), for the record
    pbt: dict | None = None  # `jaxrl pbt`: its settings and the members' starting points (jaxrl.search.pbt_plan)
    env_groups: int = 1  # EnvPool: pipelined pools per member's envs (Env.groups)
    env_threads: int = 0  # EnvPool: threads of all pools together; 0: EnvPool's choice
    capture_video: int | None = None  # env steps per member between recorded games
    eval_every: int | None = None  # env steps per member between greedy evaluations
    eval_episodes: int = 10  # games per member at each evaluation
    checkpoint_every: int | None = None  # env steps per member; None: by time (CHECKPOINT_EVERY_S)
    keep_checkpoints: int = 3
    checkpoint_replay: bool = True
    track: bool = False  # Weights & Biases too
    wandb_project: str = "jaxrl"
    wandb_entity: str | None = None
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


SWEEP_FLAGS = {
    "random": (int, "sample N points from the given values and ranges instead of training the whole grid"),
}
SWEEP_VALUE_HELP = "a value, a list a,b,c (swept), or with --random a range low:high[:log]"
PBT_FLAGS = {
    "population": (int, "members per population (per seed of --seeds), at least 4 (default: 16)"),
    "ready_every": (int, "env steps per member between exploit steps, at least one rollout (default: a tenth of the run)"),
    "truncation": (float, "the bottom fraction of each population that copies a member of the top one, in (0, 0.5] (default: 0.25)"),
    "resample_probability": (float, "chance that explore draws a value afresh from its range instead of x0.8 / x1.2 (default: 0.25)"),
    "copy_replay": (bool, "off-policy algorithms: exploit copies the parent's replay too (default: False, BENCHMARKS.md)"),
}  # fmt: skip
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
    hint = did_you_mean(flag(name), [flag(k) for k in known], quote="")
    return ConfigError(f"unknown flag {flag(name)} for jaxrl {command}{hint}")


# Flags that steer this one command and are no setting of the run: config.json does not keep them.
STEERING = ("config", "distributed", "force")


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
        flat.update(settings)
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
    if expected_type is tuple and not all(v >= 1 for v in value):
        raise ConfigError(f"invalid {flag(name)} {' '.join(map(str, value))}: must be integers >= 1")
    if valid is not None and value not in valid:
        raise ConfigError(f"invalid {flag(name)} {value}: must be {valid}")


def check_static(field: dataclasses.Field, value: Any) -> None:
    check_value(field.name, value, type(field.default), minimum=field.metadata.get("minimum", 1))


def check_hyper(field: dataclasses.Field, value: Any) -> None:
    check_value(field.name, value, float, valid=field.metadata.get("valid"))


def check_env_stepping(merged: dict, backend: str) -> None:
    """`--env-groups` and `--env-threads` against the backend, `--num-envs` and the machine."""
    groups, threads, cores = merged["env_groups"], merged["env_threads"], machine_cores()
    check_value("env_groups", groups, int)
    check_value("env_threads", threads, int, minimum=0)
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


def resolve(algorithm: Algorithm, options: dict, env_instance: tuple | None = None) -> RunConfig:
    """Merges, lowest first: field defaults, run defaults, the preset, --config, explicit flags.

    `options` holds the parsed flags by field name, None where not given. `env_instance`: a
    gymnax-API (env, params) from Python, trained on instead of an env id.
    """
    static_fields = {f.name: f for f in dataclasses.fields(algorithm.Static)}
    hyper_fields = {f.name: f for f in dataclasses.fields(algorithm.Hyper)}
    # what a config.json may hold: every setting but the flags that only steer this command
    types = {key: kind for key, kind in setting_types(algorithm).items() if key not in STEERING}
    from_file = load_config_file(options["config"], types) if options.get("config") else {}
    if from_file.get("algo", algorithm.name) != algorithm.name:
        raise ConfigError(
            f"--config {options['config']} is for algorithm '{from_file['algo']}', not '{algorithm.name}'"
        )
    try:
        if env_instance is not None:
            env_id, backend = resolve_env_object(*env_instance), "gymnax"
        else:
            env_id, backend = resolve_env_id(
                options.get("env") or from_file.get("env") or DEFAULT_ENV,
                options.get("backend") or from_file.get("backend"),
            )
    except UnknownEnvError as error:
        raise ConfigError(str(error)) from None
    space = action_space(env_id, backend, env_instance)
    if space.partition("(")[0] not in algorithm.action_spaces:
        raise ConfigError(str(unsupported_actions(algorithm.name, algorithm.action_spaces, space)))
    is_atari = is_atari_id(env_id)
    env_fields = ATARI_DEFAULTS if is_atari else {}

    merged: dict[str, Any] = dict(RUN_DEFAULTS)
    merged.update({key: f.default for key, f in {**static_fields, **hyper_fields}.items()})
    merged.update(env_fields)
    merged.update(load_preset(algorithm.name, env_id, env_family(env_id, backend), backend))
    merged.update({key: value for key, value in from_file.items() if key not in ("env", "backend", "name", "algo")})
    merged.update({key: value for key, value in options.items() if value is not None and key in types})

    for key, f in static_fields.items():
        if isinstance(f.default, tuple):
            merged[key] = tuple(merged[key])
        check_static(f, merged[key])
    for key, f in hyper_fields.items():
        check_hyper(f, merged[key])
    for key in ("seeds", "total_steps", "log_every", "capture_video", "eval_every", "eval_episodes"):
        check_value(key, merged[key], int)
    for key in ("checkpoint_every", "keep_checkpoints"):
        check_value(key, merged[key], int)
    if merged["seed"] < 0:
        raise ConfigError(f"invalid --seed {merged['seed']}: must be >= 0")
    if merged["target_return"] is not None:
        check_value("target_return", merged["target_return"], float)
    if is_atari:
        check_value("frame_size", merged["frame_size"], int)
    check_env_stepping(merged, backend)
    if merged["capture_video"] is not None:
        refusal = video_refusal(env_id, backend, env_instance)
        if refusal:
            raise ConfigError(f"--capture-video: {refusal}")

    static = algorithm.Static(**{key: merged[key] for key in static_fields})
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
    return RunConfig(
        algo=algorithm.name,
        env=env_id,
        backend=backend,
        seed=merged["seed"],
        seeds=merged["seeds"],
        total_steps=merged["total_steps"],
        target_return=None if merged["target_return"] is None else float(merged["target_return"]),
        logdir=merged["logdir"],
        name=options.get("name") or time.strftime("%Y%m%d-%H%M%S"),
        log_every=merged["log_every"],
        env_options={key: merged[key] for key in env_fields},
        static=dataclasses.asdict(static),
        hyper={key: float(merged[key]) for key in hyper_fields},
        capture_video=merged["capture_video"],
        eval_every=merged["eval_every"],
        eval_episodes=merged["eval_episodes"],
        checkpoint_every=merged["checkpoint_every"],
        keep_checkpoints=merged["keep_checkpoints"],
        checkpoint_replay=bool(merged["checkpoint_replay"]),
        track=bool(merged["track"]),
        wandb_project=merged["wandb_project"],
        wandb_entity=merged["wandb_entity"],
        env_groups=merged["env_groups"],
        env_threads=merged["env_threads"],
        env_object=None if env_instance is None else f"{type(env_instance[0]).__module__}:{env_id}",
        env_instance=env_instance,
        spec=env_spec(env_id, backend, env_instance, **{key: merged[key] for key in env_fields}),
    )
