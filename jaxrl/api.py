"""The Python API: the runs of the command line, from a script or a notebook.

    import jaxrl
    result = jaxrl.train("ppo", env="CartPole-v1", seeds=4, total_steps=50_000, lr=3e-4)
    policy = jaxrl.load(result.run_dir, member=0)
    actions = policy(observations)

Every keyword is a flag's field name (`jaxrl train ppo --help` lists them, with their help); a
bad one raises `jaxrl.ConfigError` with the line the command line prints, before anything is
built or compiled. Runs are quiet unless `progress=True`.
"""

import dataclasses
import json
import os
import sys
import types
from pathlib import Path
from typing import NamedTuple

import jax

from jaxrl.algos import UnknownAlgorithmError, get_algorithm
from jaxrl.analysis import pbt_report, sweep_report
from jaxrl.config import RunConfig, check_options, check_value, records_of, resolve
from jaxrl.core.networks import UNROLL_CHOICES
from jaxrl.errors import ConfigError
from jaxrl.exporter import folder
from jaxrl.logs.progress import Progress
from jaxrl.logs.tensorboard import TensorBoard
from jaxrl.logs.wandb import WandB
from jaxrl.search import PBT_IN_ONE_PROCESS, pbt_plan, plan, python_values
from jaxrl.training import checkpoints, evaluation, session
from jaxrl.training.actor_learner import asynchronous
from jaxrl.training.distributed import Peers, Processes


class Result(NamedTuple):
    summary: dict  # what summary.json holds (a sweep's: with its ranked "points")
    run_dir: Path
    config: RunConfig
    report: str | None = None  # a sweep's ranked table (sweep.md)
    primary: bool = True  # this process speaks for the run (a distributed run has several)


def algorithm_named(algo: str):
    try:
        return get_algorithm(algo)
    except UnknownAlgorithmError as error:
        raise ConfigError(str(error)) from None


# XLA:CPU's default scheduler orders independent work for concurrency, which keeps more buffers
# alive at once: with it off, Pong DQN's update needs 236 MB of temporaries instead of 406 MB
# (the peak RSS of a 300k-replay run: 3.35 GiB instead of 3.51), for the same results at the same
# speed here (BENCHMARKS.md, "memory"). A flag the user sets in XLA_FLAGS wins.
XLA_CPU_FLAGS = ("--xla_cpu_enable_concurrency_optimized_scheduler=false",)


def backend_started() -> bool:
    """Whether JAX's backends exist. XLA reads XLA_FLAGS when they start and never again, while the
    persistent cache keys each program by XLA_FLAGS as they are when it compiles: flags added later
    would file programs compiled without them under keys that say they have them, and a later
    process that has the flags would load those."""
    from jax._src import xla_bridge  # lazy: no public API tells; where it is gone, assume not started

    return getattr(xla_bridge, "backends_are_initialized", lambda: False)()


def enable_compilation_cache() -> None:
    """Repeated runs of the same program skip XLA compilation (JAX's persistent cache, with XLA's
    own caches: a GPU's autotuning results); and XLA_CPU_FLAGS, while JAX's backend has not started
    (as in the CLI). Refuses a JAXRL_UNROLL that is not one of UNROLL_CHOICES."""
    unroll = os.environ.get("JAXRL_UNROLL", "auto")
    if unroll not in UNROLL_CHOICES:
        raise ConfigError(f"JAXRL_UNROLL={unroll!r}: expected one of {', '.join(UNROLL_CHOICES)}")
    if not backend_started():
        flags = os.environ.get("XLA_FLAGS", "")
        extra = [flag for flag in XLA_CPU_FLAGS if flag.partition("=")[0] not in flags]
        os.environ["XLA_FLAGS"] = " ".join([flags, *extra]).strip()
    cache = os.environ.get("JAXRL_CACHE_DIR", str(Path.home() / ".cache" / "jaxrl" / "xla"))
    jax.config.update("jax_compilation_cache_dir", cache)
    # every program, however small: a warm run's ~6-20 eager ops (staging, casts) each cost ~10-30 ms
    # to compile and ~3-10 ms to load (BENCHMARKS.md, "The warm process")
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_enable_xla_caches", "all")


def load_lapack_kernels() -> None:
    """jaxlib's CPU LAPACK kernels come from scipy's two Cython modules, which it imports the first
    time it lowers a decomposition (the orthogonal initializer's QR, in every init). Importing them
    by name runs `scipy.linalg`'s package first, which nothing else in a run uses: the init's
    lowering took 0.23 s instead of 0.10 s (BENCHMARKS.md, "Start-up: CartPole PPO's preset and
    scipy"). Here the two modules load without it: the same kernels, so the same results; a later
    `import scipy.linalg` still runs the package as usual. With it imported, or the two modules
    loaded by an earlier run of the process: nothing, so the stand-in is in place only for the
    first run's two imports."""
    import scipy  # lazy: a jax dependency, needed by a run only (here), not by `import jaxrl`

    if "scipy.linalg" in sys.modules or "scipy.linalg.cython_lapack" in sys.modules:
        return
    package = types.ModuleType("scipy.linalg")  # only a path for its submodules; never executed
    package.__path__ = [str(Path(scipy.__file__).parent / "linalg")]
    sys.modules["scipy.linalg"] = package
    try:
        # lazy: the two modules jaxlib reads, beside the stand-in package above
        import scipy.linalg.cython_blas
        import scipy.linalg.cython_lapack  # noqa: F401
    except ImportError:
        pass  # jaxlib imports them itself, as it would have
    finally:
        del sys.modules["scipy.linalg"]


def loggers_for(config: RunConfig, progress: bool) -> list:
    """The sinks of a run: TensorBoard always, the progress display when asked, W&B with `track`."""
    sinks = [TensorBoard()]
    if progress:
        sinks.append(Progress())
    if config.track:
        sinks.append(WandB(config.wandb_project, config.wandb_entity))
    return sinks


def join(distributed: bool, name: str | None, resume: str | Path | None = None) -> Peers | None:
    """With `distributed`, the other processes, joined before anything starts JAX's backend (as
    jax.distributed requires); else None."""
    if not distributed:
        return None
    if name is None and resume is None:
        raise ConfigError("--distributed needs --name: every process must write into the same run")
    return Processes()


def distribute(config: RunConfig, peers: Peers | None, resume: Path | None = None) -> RunConfig:
    """The config, recording how many processes share the run; checks that they can."""
    if peers is None:
        if config.processes > 1:
            raise ConfigError(f"the run was made by {config.processes} processes: resume it with --distributed True")
        return config
    size = config.seeds * (len(config.sweep.points) if config.sweep else 1)
    if size % peers.count and not asynchronous(config):  # (the actor-learner's processes split the envs)
        raise ConfigError(f"--distributed: {size} members cannot be split evenly over {peers.count} processes")
    if resume is not None and peers.count != config.processes:
        raise ConfigError(f"the run was made by {config.processes} processes, not {peers.count}")
    return dataclasses.replace(config, processes=peers.count)


def run(
    config: RunConfig,
    progress: bool = False,
    loggers: list | None = None,
    resume=None,
    peers=None,
    should_stop=None,
    force: bool = False,
) -> Result:
    """Trains (or resumes) a resolved config; a sweep's points are ranked and reported at the end,
    a PBT run's population and best member's schedule too.
    `force`: start even where the memory estimate exceeds what is free."""
    sinks = loggers_for(config, progress) if loggers is None else loggers
    enable_compilation_cache()
    load_lapack_kernels()
    summary = session.train(config, sinks, resume=resume, peers=peers, should_stop=should_stop, force=force)
    report = None
    primary = peers is None or peers.index == 0
    if config.sweep and primary and not summary["interrupted_by"]:
        summary, report = sweep_report.report(summary, config)
    if config.pbt and not summary["interrupted_by"]:  # (PBT trains in one process)
        summary, report = pbt_report.report(summary, config)
    return Result(summary, Path(summary["run_dir"]), config, report, primary)


def object_of(env: dict) -> tuple | None:
    """The (env, params) given as `env=`, `env_params=` to resume, evaluate or load; None if none."""
    unknown = sorted(set(env) - {"env", "env_params"})
    if unknown:
        raise ConfigError(f"unexpected keyword {unknown[0]}: only env= and env_params= name the env again")
    return env_instance(dict(env)) if "env" in env else None


def env_instance(options: dict) -> tuple | None:
    """A gymnax-API env object given as `env=` (with `env_params=`, default: its default_params),
    taken out of `options`: (env, params); None when `env` is an id (or not given)."""
    env, params = options.get("env"), options.pop("env_params", None)
    if env is None or isinstance(env, str):
        if params is not None:
            raise ConfigError("env_params goes with an env object (env=my_env), not an env id")
        return None
    options["env"] = None
    return env, getattr(env, "default_params", None) if params is None else params


def train(algo: str, *, progress: bool = False, loggers: list | None = None, **options) -> Result:
    """Trains `algo` with these flags (`env=`, `seeds=`, `total_steps=`, any hyperparameter, ...):
    one or many seeds in one compiled program. Returns the summary and the run dir.
    `env` may also be an env object with gymnax's API, with its `env_params`.
    `loggers`: sinks instead of the default ones (TensorBoard, and W&B with `track=True`)."""
    algorithm = algorithm_named(algo)
    instance = env_instance(options)
    check_options(algorithm, "train", options)
    distributed, force = options.pop("distributed", None), options.pop("force", None)
    peers = join(distributed, options.get("name"))
    config = distribute(resolve(algorithm, options, instance), peers)
    return run(config, progress, loggers, peers=peers, force=bool(force))


def sweep(algo: str, *, random: int | None = None, progress: bool = False, loggers: list | None = None, **options):
    """Trains every point of a grid of hyperparameter values (lists: `lr=[1e-4, 1e-3]`) times
    the seeds, as one population; `random=N` samples N points instead, ranges given as
    `(low, high)` or `(low, high, "log")`. Returns the summary with its points ranked by the IQM
    of final return across seeds (95% bootstrap CI), as sweep.md has them."""
    algorithm = algorithm_named(algo)
    instance = env_instance(options)
    check_options(algorithm, "sweep", options)
    hyper = {f.name: f for f in dataclasses.fields(algorithm.Hyper)}
    values = {name: python_values(hyper[name], value) for name, value in options.items() if name in hyper}
    run_options = {name: value for name, value in options.items() if name not in hyper}
    distributed, force = run_options.pop("distributed", None), run_options.pop("force", None)
    peers = join(distributed, run_options.get("name"))
    config = distribute(plan(algorithm, run_options, values, random, instance), peers)
    return run(config, progress, loggers, peers=peers, force=bool(force))


def pbt(algo: str, *, progress: bool = False, loggers: list | None = None, **options):
    """Population-based training: `population` members per seed start from points sampled in the
    ranges given as `(low, high)` or `(low, high, "log")` (other hyperparameters: a value, fixed);
    every `ready_every` env steps the bottom `truncation` of each population copies the networks
    of a top member (`copy_replay`: and its replay) and explores (x0.8 or x1.2, or a fresh draw
    with `resample_probability`). Returns the summary, its "pbt" entry holding every member's
    lineage and the best member's ancestry, as pbt.md and pbt.png have them."""
    algorithm = algorithm_named(algo)
    instance = env_instance(options)
    check_options(algorithm, "pbt", options)
    hyper = {f.name: f for f in dataclasses.fields(algorithm.Hyper)}
    values = {name: python_values(hyper[name], value) for name, value in options.items() if name in hyper}
    run_options = {name: value for name, value in options.items() if name not in hyper}
    if run_options.pop("distributed", None):
        raise ConfigError(PBT_IN_ONE_PROCESS)
    force = run_options.pop("force", None)
    config = pbt_plan(algorithm, run_options, values, instance)
    return run(config, progress, loggers, force=bool(force))


def saved_config(
    run_dir: str | Path, algo: str | None = None, command: str = "--resume", instance: tuple | None = None
) -> RunConfig:
    """The RunConfig saved in a run dir, checked as a new run's flags would be: resume, eval and
    load (`command`, for the messages) fail here, before anything is built, if it is bad; eval and
    load also need a complete checkpoint (a resume without one trains the run from its start).
    `instance`: the (env, params) of a run trained on an env object from Python, which config.json
    can only name."""
    path = Path(run_dir)
    config_path = path / "config.json"
    if not path.is_dir():
        raise ConfigError(f"{command} {run_dir}: no such run directory")
    if not config_path.is_file():
        raise ConfigError(f"{command} {run_dir}: no config.json in it (not a jaxrl run directory)")
    try:
        saved = json.loads(config_path.read_text())
        saved_algo, name = saved["algo"], saved["name"]
        records = records_of(saved)
        env_object = saved.get("env_object")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise ConfigError(f"{command} {run_dir}: config.json is damaged ({type(error).__name__}: {error})") from None
    if algo is not None and algo != saved_algo:
        raise ConfigError(f"{command} {run_dir}: the run is {saved_algo}, not {algo}")
    if env_object and instance is None:
        raise ConfigError(
            f"{command} {run_dir}: the run trained on a Python env object ({env_object}), which config.json "
            "cannot rebuild: pass it again from Python, e.g. jaxrl.resume(run_dir, env=env, env_params=params)"
        )
    if instance is not None and not env_object:
        raise ConfigError(f"{command} {run_dir}: the run trained on {saved.get('env')}, not on an env object")
    config = resolve(algorithm_named(saved_algo), {"config": str(config_path), "name": name}, instance)
    if instance is not None and config.env != saved.get("env"):
        raise ConfigError(f"{command} {run_dir}: the run trained on a {saved.get('env')}, not a {config.env}")
    if command != "--resume":
        checkpoints.latest_step(path)
    return dataclasses.replace(config, **records)


def resume(
    run_dir: str | Path,
    *,
    progress: bool = False,
    loggers: list | None = None,
    distributed=False,
    force=False,
    algo: str | None = None,
    **env,
) -> Result:
    """Continues a stopped run from its latest checkpoint (or, stopped before its first, from the
    start), with its saved settings. A run trained on an env object from Python takes it again:
    `env=`, `env_params=`. `algo`: refuse the run unless it is this algorithm's."""
    peers = join(distributed, None, run_dir)
    config = distribute(saved_config(run_dir, algo, instance=object_of(env)), peers, Path(run_dir))
    return run(config, progress, loggers, resume=Path(run_dir), peers=peers, force=force)


def evaluate(
    run_dir: str | Path,
    *,
    episodes: int = 10,
    seed: int = 0,
    stochastic: bool = False,
    video: bool = False,
    runs: list[str] | None = None,
    **env,
) -> dict:
    """Plays the run's latest checkpoint: `episodes` whole games per member (or the `runs` named,
    such as ["s3"]), greedy unless `stochastic`; `video`: one more game each as an MP4. Returns
    what eval.json holds: every episode's return and length per member. A run trained on an env
    object from Python takes it again: `env=`, `env_params=`."""
    config = saved_config(run_dir, None, "eval", object_of(env))
    check_value("episodes", episodes, int)
    enable_compilation_cache()
    return evaluation.evaluate(config, Path(run_dir), episodes, seed, stochastic, runs, video)


def load(run_dir: str | Path, member: int | str = 0, *, stochastic: bool = False, seed: int = 0, **env):
    """The policy of one member (an index, or a name such as "s3") at the run's latest checkpoint:
    `policy(observations)` takes a NumPy batch [B, *obs_shape] and returns NumPy actions [B]. A
    recurrent policy keeps its carry between calls: `policy(observations, first=...)` marks (a
    bool, or [B] bools) the observations that start an episode, where it is reset. A
    run trained on an env object from Python takes it again: `env=`, `env_params=`.
    `run_dir` may also be a policy folder (`jaxrl.export`): its greedy policy, run by onnxruntime."""
    if folder.is_policy_folder(run_dir):
        if member not in (0, None) or stochastic or env:
            raise ConfigError(f"load {run_dir}: a policy folder holds one greedy policy (no member, stochastic or env)")
        return folder.OnnxPolicy(run_dir)
    config = saved_config(run_dir, None, "load", object_of(env))
    return evaluation.load_policy(config, Path(run_dir), member, stochastic, seed)


def export(
    run_dir: str | Path,
    member: int | str = 0,
    *,
    out: str | Path | None = None,
    force: bool = False,
    episodes: int = 10,
    seed: int = 0,
    **env,
) -> dict:
    """Writes one member's greedy policy as a policy folder (default <run dir>/policy-<member>):
    policy.onnx, policy.json, a README.md model card with its learning curve; runs without JAX
    (`jaxrl.load(folder)`, examples/onnx_inference.py). `episodes` greedy games (seeded as `jaxrl
    eval --seed`) give policy.json its greedy return; 0 skips them. `force` replaces an existing
    policy folder. Returns policy.json's content with "folder" and "export_s" (restore + convert)."""
    config = saved_config(run_dir, None, "export", object_of(env))
    check_value("episodes", episodes, int, minimum=0)
    enable_compilation_cache()
    return folder.export(config, Path(run_dir), member, out, force, episodes, seed)
