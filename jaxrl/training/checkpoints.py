"""Checkpoints of a run: `<run dir>/checkpoints/<env step>/`, written with orbax-checkpoint.

Orbax writes each checkpoint into a temporary folder and renames it into place once complete,
so a kill at any moment leaves the previous checkpoints whole; it keeps the latest K. A
checkpoint holds up to three items: `state`, the device arrays (networks, optimizer state, keys,
counters), `replay`, an off-policy agent's replay buffer as .npy files streamed a block at a time
(`jaxrl.training.replay_files`), and `host`, a JSON record of the loop's own progress (iterations
done, steps to target, elapsed time), so a resumed run continues as if it had not stopped.
"""

import contextlib
import dataclasses
import functools
import importlib
import shutil
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxrl.algos.base import Algorithm
from jaxrl.core import buffers
from jaxrl.core.population import init_learning
from jaxrl.core.programs import ENV_FIELDS, SAVED_FIELDS, RunnerState
from jaxrl.core.types import Agent
from jaxrl.errors import CheckpointError
from jaxrl.training import replay_files

CHECKPOINT_EVERY_S = 600.0  # the default: at most 10 minutes of training lost to a crash
ENV_HANDLE = "env"  # a JAX env's handle in a checkpoint: its envs' states and keys, leaves [P, E, ...]


def orbax():
    """orbax.checkpoint, imported at the first checkpoint or read: a CartPole run does not pay
    its ~80 ms before its first env step."""
    return importlib.import_module("orbax.checkpoint")


def import_orbax_meanwhile() -> None:
    """Imports orbax on a daemon thread while training runs (its programs release the GIL), so
    that the first checkpoint, often a short run's last act, finds it loaded. A failed import is
    left for `orbax()` to raise where it is needed."""

    def load() -> None:
        with contextlib.suppress(Exception):
            orbax()

    threading.Thread(target=load, name="import-orbax", daemon=True).start()


def drop_replay(algorithm: Algorithm, agent_state):
    """The agent state without its replay buffer (off-policy agents'); others as they are."""
    return agent_state.replace(**{algorithm.replay: None}) if algorithm.replay else agent_state


def without_replay(algorithm: Algorithm, learning: dict) -> dict:
    return dict(learning, agent=drop_replay(algorithm, learning["agent"]))


def checkpoint_like(algorithm: Algorithm, agent: Agent, seeds, hyper) -> dict:
    """The ShapeDtypeStructs of the `state` item of this population's checkpoint, nothing computed."""
    shapes = jax.eval_shape(lambda s, h: init_learning(agent, s, h), np.asarray(seeds, np.int32), hyper)
    return without_replay(algorithm, shapes)


def env_part(state: RunnerState, handle) -> dict:
    """A JAX env's side of the state (ENV_FIELDS and the handle, whose leaves [P*E, ...] are kept
    per member), which a checkpoint holds so that a resume continues the same episodes."""
    members = state.obs.shape[0]
    env = jax.tree.map(lambda x: x.reshape(members, -1, *x.shape[1:]), handle)
    return {**{name: getattr(state, name) for name in ENV_FIELDS}, ENV_HANDLE: env}


def saved_state(algorithm: Algorithm, state: RunnerState, handle=None) -> dict:
    """The part of the state the checkpoint's `state` item holds (SAVED_FIELDS, the replay apart);
    with a JAX env's `handle`, its side too (env_part)."""
    saved = without_replay(algorithm, {name: getattr(state, name) for name in SAVED_FIELDS})
    return saved if handle is None else {**saved, **env_part(state, handle)}


def resumed_handle(saved: dict, handle):
    """The checkpoint's JAX env handle (leaves [P*E, ...]) where it has one; else `handle`, the
    restarted envs'."""
    if ENV_HANDLE not in saved:
        return handle
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), saved[ENV_HANDLE])


def replay_of(algorithm: Algorithm, state: RunnerState):
    """The state's replay buffer (leaves [members, ...]), None for on-policy agents."""
    return getattr(state.agent, algorithm.replay) if algorithm.replay else None


def resumed_state(algorithm: Algorithm, fresh: RunnerState, saved: dict, replay=None) -> RunnerState:
    """A fresh state, whose envs have just restarted, carrying a checkpoint's learning. `replay`:
    the checkpoint's replay (read into the fresh state's buffers), else the fresh, empty one
    (learning waits until it refills); a saved one loses each env's last transition, whose next
    observation the restart discarded (unless the checkpoint holds a JAX env, whose episodes go on)."""
    agent = saved["agent"]
    saved = {name: value for name, value in saved.items() if name != ENV_HANDLE}
    if algorithm.replay:
        if replay is None:
            replay = replay_of(algorithm, fresh)
        elif "obs" not in saved:
            replay = jax.vmap(buffers.drop_pending)(replay)
        agent = agent.replace(**{algorithm.replay: replay})
    return fresh.replace(**dict(saved, agent=agent))


def checkpoint_dir(run_dir: Path | str) -> Path:
    return Path(run_dir) / "checkpoints"


def manager(run_dir: Path | str, keep: int = 3, create: bool = False):
    ocp = orbax()
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False, create=create)
    # PyTree rather than Standard handler for the arrays: the same files, plus partial restores
    handlers = {"state": ocp.PyTreeCheckpointHandler(), "host": ocp.JsonCheckpointHandler()}
    handlers["replay"] = replay_item().handler()
    return ocp.CheckpointManager(checkpoint_dir(run_dir).resolve(), options=options, item_handlers=handlers)


@functools.cache
def replay_item():
    """The orbax item handler of the replay and its save and restore arguments, defined when the
    first checkpoint imports orbax. Every process writes its own members' files; orbax makes the
    checkpoint's folder, and renames it into place once every item is written."""
    ocp = orbax()

    class ReplayHandler(ocp.CheckpointHandler):
        def save(self, directory, args) -> None:
            replay_files.save(Path(directory), args.groups)

        def restore(self, directory, args):
            return replay_files.restore(Path(directory), args.into, args.members)

    @ocp.args.register_with_handler(ReplayHandler, for_save=True)
    @dataclasses.dataclass
    class ReplaySave(ocp.args.CheckpointArgs):
        groups: list  # (members of the population, their replay with leaves [members, ...])

    @ocp.args.register_with_handler(ReplayHandler, for_restore=True)
    @dataclasses.dataclass
    class ReplayRestore(ocp.args.CheckpointArgs):
        into: Any  # buffers of the members' shapes to read into (donated)
        members: range

    return ReplayItem(ReplayHandler, ReplaySave, ReplayRestore)


class ReplayItem(NamedTuple):
    handler: type
    save: type
    restore: type


def leaf_shapes(tree) -> dict[str, tuple[tuple[int, ...], str]]:
    """{"agent/params/.../kernel": (shape, dtype)} of arrays, ShapeDtypeStructs or orbax's metadata."""

    def name(key) -> str:
        return str(getattr(key, "key", getattr(key, "name", getattr(key, "idx", key))))

    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join(map(name, path)): (tuple(leaf.shape), np.dtype(leaf.dtype).name) for path, leaf in leaves}


def recurrent(shapes: dict) -> bool:
    """Whether a run state's arrays (`leaf_shapes`) are a recurrent agent's: its core's parameters
    (`jaxrl.core.recurrent.ScannedCell`; a checkpoint of EnvPool envs holds no carry: they restart)."""
    return any("/ScannedCell_" in path for path in shapes)


# where an older jaxrl kept its recurrent core (flax's GRUCell / OptimizedLSTMCell under nn.scan):
# issue 28's fused cells hold other arrays, so such a checkpoint is named, not listed array by array
FLAX_CELLS = "/ScannedCell_0/scan/cell/"


def mismatch(saved: dict, expected: dict, partial: bool = False) -> str | None:
    """The first difference between a checkpoint's arrays and the ones this run builds, in words;
    `partial`: the checkpoint may hold more than `expected`. A recurrent core (and its carry) saved
    or missing is named first, rather than the first of the many arrays it changes."""
    if recurrent(saved) != recurrent(expected):
        if recurrent(expected):
            return "it was made without a carry (feed-forward): it cannot resume with --recurrent"
        return "it holds a recurrent agent's carry: it cannot resume with --recurrent none"
    if any(FLAX_CELLS in path for path in saved):
        return "its recurrent core is in flax's cell layout (an older jaxrl): this jaxrl's fused cells cannot read it"
    for path in sorted(set(expected) if partial else set(saved) | set(expected)):
        if path not in saved:
            return f"it has no {path}"
        if path not in expected:
            return f"it has {path}, which this run does not"
        if saved[path] != expected[path]:
            (shape, dtype), (want_shape, want_dtype) = saved[path], expected[path]
            return f"{path} is {dtype}{list(shape)} there, {want_dtype}{list(want_shape)} here"
    return None


class Checkpointer:
    """Saves every `every_steps` env steps per member, or every CHECKPOINT_EVERY_S seconds when
    `every_steps` is None; `save` also runs unconditionally at the end of a run."""

    def __init__(self, run_dir: Path, keep: int, every_steps: int | None, last_step: int = 0):
        self.run_dir, self.keep = run_dir, keep
        self.manager = None  # opened by the first save
        self.every_steps = every_steps
        self.last_step, self.last_time = last_step, time.monotonic()

    def due(self, env_steps: int) -> bool:
        if self.every_steps is not None:
            return env_steps - self.last_step >= self.every_steps
        return time.monotonic() - self.last_time >= CHECKPOINT_EVERY_S

    def save(self, env_steps: int, state, host: dict, replay: list | None = None) -> None:
        """`replay`: (members of the population, their replay) per group of this process; None:
        the checkpoint holds no replay."""
        ocp = orbax()
        if self.manager is None:
            self.manager = manager(self.run_dir, self.keep, create=True)
        if env_steps in self.manager.all_steps():  # already saved at this step (a resumed, finished run)
            return
        items = {"state": ocp.args.PyTreeSave(state), "host": ocp.args.JsonSave(host)}
        if replay is not None:
            items["replay"] = replay_item().save(replay)
        args = ocp.args.Composite(**items)
        self.manager.save(env_steps, args=args)
        self.manager.wait_until_finished()
        self.last_step, self.last_time = env_steps, time.monotonic()

    def close(self) -> None:
        if self.manager is not None:
            self.manager.close()


def complete_step(run_dir: Path | str) -> int | None:
    """The env step of the newest complete checkpoint; None if there is none yet (a run stopped
    before its first one)."""
    if not checkpoint_dir(run_dir).is_dir():
        return None
    with manager(run_dir) as checkpoints:
        return checkpoints.latest_step()


def latest_step(run_dir: Path | str) -> int:
    """The env step of the newest complete checkpoint; CheckpointError if there is none."""
    step = complete_step(run_dir)
    if step is None and not checkpoint_dir(run_dir).is_dir():
        raise CheckpointError(f"{run_dir}: no checkpoints/ folder (was it written by jaxrl train?)")
    if step is None:
        raise CheckpointError(f"{checkpoint_dir(run_dir)}: no complete checkpoint in it")
    return step


# orbax writes a checkpoint as <step>.orbax-checkpoint-tmp-<time>/ and renames it to <step>/
# once complete: a folder still so named was cut short by a kill.
UNFINISHED = ".orbax-checkpoint-tmp"


def remove_unfinished(run_dir: Path | str) -> list[int]:
    """Deletes the checkpoints a kill cut short (orbax would warn of them at the next save) and
    returns their env steps."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    cut = [path for path in folder.iterdir() if UNFINISHED in path.name]
    for path in cut:
        shutil.rmtree(path)
    return sorted(int(path.name.partition(".")[0]) for path in cut if path.name.partition(".")[0].isdigit())


@contextlib.contextmanager
def reading(run_dir: Path | str, step: int):
    """An open checkpoint manager whose read errors become one-line CheckpointErrors."""
    where = checkpoint_dir(run_dir) / str(step)
    try:
        with manager(run_dir) as checkpoints:
            yield checkpoints
    except CheckpointError:
        raise
    except (ValueError, KeyError, TypeError) as error:
        reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{where} is damaged or does not fit this run: {reason}") from None
    except OSError as error:
        raise CheckpointError(f"{where} cannot be read: {error}") from None


def restore_record(run_dir: Path | str, step: int) -> dict:
    """The loop's progress record saved with the checkpoint at `step`."""
    ocp = orbax()
    with reading(run_dir, step) as checkpoints:
        return checkpoints.restore(step, args=ocp.args.Composite(host=ocp.args.JsonRestore()))["host"]


def restore_replay(run_dir: Path | str, step: int, into, members: range):
    """The replay of `members` from the checkpoint at `step`, read into `into` (the fresh
    buffers of those members, donated); None if the checkpoint holds no replay."""
    with reading(run_dir, step) as checkpoints:
        if not (checkpoint_dir(run_dir) / str(step) / "replay").is_dir():
            return None
        restore = replay_item().restore(into, members)
        return checkpoints.restore(step, args=orbax().args.Composite(replay=restore))["replay"]


def restore_state(run_dir: Path | str, like, step: int, partial: bool = False):
    """The arrays of the checkpoint at `step`. `like` is a pytree of arrays or ShapeDtypeStructs
    with the structure, shapes and dtypes this run builds: a checkpoint that differs (another
    algorithm, env or network) is refused, naming the first array that differs. `partial`: read
    only what `like` holds (evaluation leaves a replay of gigabytes on disk)."""
    ocp = orbax()
    with reading(run_dir, step) as checkpoints:
        saved = checkpoints.item_metadata(step)["state"]
        expected = leaf_shapes(like)
        difference = "no arrays in it" if saved is None else mismatch(leaf_shapes(saved.tree), expected, partial)
        if difference:
            raise CheckpointError(
                f"{checkpoint_dir(run_dir) / str(step)} does not fit this run "
                f"(another algorithm, env or network?): {difference}"
            )
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        restore_args = ocp.checkpoint_utils.construct_restore_args(abstract)
        args = ocp.args.PyTreeRestore(item=abstract, restore_args=restore_args, partial_restore=partial)
        return checkpoints.restore(step, args=ocp.args.Composite(state=args))["state"]
