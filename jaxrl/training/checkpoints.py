"""Checkpoints of a run: `<run dir>/checkpoints/<env step>/`, written with orbax-checkpoint.

Orbax writes each checkpoint into a temporary folder and renames it into place once complete,
so a kill at any moment leaves the previous checkpoints whole; it keeps the latest K. A
checkpoint holds two items: `state`, the device arrays (networks, optimizer state, replay, keys,
counters), and `host`, a JSON record of the loop's own progress (iterations done, steps to
target, elapsed time), so a resumed run continues as if it had not stopped.
"""

import contextlib
import importlib
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.algos.base import Algorithm
from jaxrl.core import buffers
from jaxrl.core.population import init_learning
from jaxrl.core.programs import ENV_FIELDS, SAVED_FIELDS, RunnerState
from jaxrl.core.types import Agent
from jaxrl.errors import CheckpointError

CHECKPOINT_EVERY_S = 600.0  # the default: at most 10 minutes of training lost to a crash
ENV_HANDLE = "env"  # a JAX env's handle in a checkpoint: its envs' states and keys, leaves [P, E, ...]


def orbax():
    """orbax.checkpoint, imported at the first checkpoint or read: a CartPole run does not pay
    its ~80 ms before its first env step."""
    return importlib.import_module("orbax.checkpoint")


def drop_replay(algorithm: Algorithm, agent_state):
    """The agent state without its replay buffer (off-policy agents'); others as they are."""
    return agent_state.replace(**{algorithm.replay: None}) if algorithm.replay else agent_state


def without_replay(algorithm: Algorithm, learning: dict, with_replay: bool) -> dict:
    return learning if with_replay else dict(learning, agent=drop_replay(algorithm, learning["agent"]))


def checkpoint_like(algorithm: Algorithm, agent: Agent, seeds, hyper, with_replay: bool) -> dict:
    """The ShapeDtypeStructs of a checkpoint of this population, nothing computed."""
    shapes = jax.eval_shape(lambda s, h: init_learning(agent, s, h), jnp.asarray(seeds), hyper)
    return without_replay(algorithm, shapes, with_replay)


def env_part(state: RunnerState, handle) -> dict:
    """A JAX env's side of the state (ENV_FIELDS and the handle, whose leaves [P*E, ...] are kept
    per member), which a checkpoint holds so that a resume continues the same episodes."""
    members = state.obs.shape[0]
    env = jax.tree.map(lambda x: x.reshape(members, -1, *x.shape[1:]), handle)
    return {**{name: getattr(state, name) for name in ENV_FIELDS}, ENV_HANDLE: env}


def saved_state(algorithm: Algorithm, state: RunnerState, with_replay: bool, handle=None) -> dict:
    """The part of the state a checkpoint holds (SAVED_FIELDS); with a JAX env's `handle`, its
    side too (env_part)."""
    saved = without_replay(algorithm, {name: getattr(state, name) for name in SAVED_FIELDS}, with_replay)
    return saved if handle is None else {**saved, **env_part(state, handle)}


def resumed_handle(saved: dict, handle):
    """The checkpoint's JAX env handle (leaves [P*E, ...]) where it has one; else `handle`, the
    restarted envs'."""
    if ENV_HANDLE not in saved:
        return handle
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), saved[ENV_HANDLE])


def resumed_state(algorithm: Algorithm, fresh: RunnerState, saved: dict) -> RunnerState:
    """A fresh state, whose envs have just restarted, carrying a checkpoint's learning. A replay
    left out of the checkpoint is the fresh, empty one (learning waits until it refills); a saved
    one loses each env's last transition, whose next observation the restart discarded (unless
    the checkpoint holds a JAX env, whose episodes go on)."""
    agent = saved["agent"]
    saved = {name: value for name, value in saved.items() if name != ENV_HANDLE}
    if algorithm.replay:
        replay = getattr(agent, algorithm.replay)
        if replay is None:
            replay = getattr(fresh.agent, algorithm.replay)
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
    return ocp.CheckpointManager(checkpoint_dir(run_dir).resolve(), options=options, item_handlers=handlers)


def leaf_shapes(tree) -> dict[str, tuple[tuple[int, ...], str]]:
    """{"agent/params/.../kernel": (shape, dtype)} of arrays, ShapeDtypeStructs or orbax's metadata."""

    def name(key) -> str:
        return str(getattr(key, "key", getattr(key, "name", getattr(key, "idx", key))))

    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join(map(name, path)): (tuple(leaf.shape), np.dtype(leaf.dtype).name) for path, leaf in leaves}


def mismatch(saved: dict, expected: dict, partial: bool = False) -> str | None:
    """The first difference between a checkpoint's arrays and the ones this run builds, in words;
    `partial`: the checkpoint may hold more than `expected`."""
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

    def save(self, env_steps: int, state, host: dict) -> None:
        ocp = orbax()
        if self.manager is None:
            self.manager = manager(self.run_dir, self.keep, create=True)
        if env_steps in self.manager.all_steps():  # already saved at this step (a resumed, finished run)
            return
        args = ocp.args.Composite(state=ocp.args.PyTreeSave(state), host=ocp.args.JsonSave(host))
        self.manager.save(env_steps, args=args)
        self.manager.wait_until_finished()
        self.last_step, self.last_time = env_steps, time.monotonic()

    def close(self) -> None:
        if self.manager is not None:
            self.manager.close()


def latest_step(run_dir: Path | str) -> int:
    """The env step of the newest complete checkpoint; CheckpointError if there is none."""
    if not checkpoint_dir(run_dir).is_dir():
        raise CheckpointError(f"{run_dir}: no checkpoints/ folder (was it written by jaxrl train?)")
    with manager(run_dir) as checkpoints:
        step = checkpoints.latest_step()
    if step is None:
        raise CheckpointError(f"{checkpoint_dir(run_dir)}: no complete checkpoint in it")
    return step


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
