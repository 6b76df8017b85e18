"""Device replay for off-policy algorithms: a pytree of arrays and pure `init` / `add` / `sample`.

Steps are stored per env in time order in a ring of `capacity` slots: step t of env e lives in
slot t % capacity, so the next observation of a transition is simply the next slot's. Atari
observations are frame stacks ([4, 84, 84] uint8) in which consecutive steps share three frames:
only each step's newest frame is stored, and the stacks of a sampled transition are rebuilt from
the frames before it.

How EnvPool fills its stack (checked against envpool 1.2.5, Pong and Breakout): every step shifts
one new frame in, also across a life loss with episodic life (the "reset" after a lost life
continues the game and its stack); at a game's start (reset, game over, truncation) every slot
holds the first frame. So a step whose stack has all frames equal is marked a stack start, and a
rebuilt stack repeats the frame at its most recent start where EnvPool's would reach further
back. That reproduces EnvPool's stacks bit for bit, and never reaches into the previous game.

EnvPool's reset step (the step after an episode ended: its action is ignored and the obs jumps to
a new episode) is stored with `valid` False: its observation is the terminal observation of the
transition before it, but it starts no transition itself and is never sampled.
"""

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.core.distributions import action_mask
from jaxrl.core.types import EnvSpec, Trajectory


class Replay(struct.PyTreeNode):
    obs: jax.Array  # [C, E, *frame] each step's newest frame (stacked obs), or its whole obs
    action: jax.Array  # [C, E] int32, or [C, E, *action_shape] float32 (Box)
    reward: jax.Array  # [C, E] float32
    terminated: jax.Array  # [C, E] bool: no bootstrap from the next obs
    valid: jax.Array  # [C, E] bool: a transition starts here (False: reset step, pending obs, empty)
    stack_start: jax.Array  # [C, E] bool: every frame of this step's stack is the same frame
    count: jax.Array  # int32: steps added per env; slot `count % C` holds the pending last obs
    stack: int = struct.field(pytree_node=False, default=0)  # frames per observation; 0: stored whole
    # [C, E, A] bool: each step's obs's legal actions, for an env that reports them; None: none kept
    action_mask: jax.Array | None = None


class Batch(NamedTuple):
    obs: jax.Array  # [B, *obs_shape]
    action: jax.Array  # [B] int32, or [B, *action_shape] float32
    reward: jax.Array  # [B] float32
    terminated: jax.Array  # [B] bool
    next_obs: jax.Array  # [B, *obs_shape]; the terminal (or truncated) obs where the episode ended
    mask: jax.Array  # [B] bool: False only if every try drew a non-transition (see `sample`)
    time: jax.Array  # [B] int32: the step index (per env, since the start) of each transition
    env: jax.Array  # [B] int32
    next_action_mask: jax.Array | None = None  # [B, A] bool: next_obs's legal actions, if the replay keeps them
    action_mask: jax.Array | None = None  # [B, A] bool: obs's legal actions, likewise


def slots_per_env(buffer_size: int, num_envs: int) -> int:
    """The ring's capacity for `buffer_size` transitions over all envs, plus each env's pending last obs."""
    return math.ceil(buffer_size / num_envs) + 1


def masked_actions(spec: EnvSpec) -> int:
    """The size of the action masks the replay keeps: the env's actions, if it reports masks."""
    return spec.num_actions if spec.action_masks else 0


def frame_stack(spec: EnvSpec) -> int:
    """Frames per observation the replay rebuilds (Atari's stacks); 0 stores observations whole."""
    return spec.frame_stack if spec.frame_stack > 1 else 0


def init(
    capacity: int,
    num_envs: int,
    obs_shape: tuple[int, ...],
    obs_dtype,
    stack: int = 0,
    action_shape: tuple = (),
    masked_actions: int = 0,
) -> Replay:
    """An empty ring of `capacity` steps per env. `stack` > 0: observations are stacks of that
    many frames ([stack, H, W]) and only one frame per step is kept. `action_shape`: () for
    Discrete actions (int32), (A,) for Box ones (float32). `masked_actions` A > 0: each step's
    action mask [A] is kept too (an env that reports them)."""
    frame_shape = tuple(obs_shape[1:]) if stack else tuple(obs_shape)
    if stack and obs_shape[0] != stack:
        raise ValueError(f"obs shape {obs_shape} is not a stack of {stack} frames")
    if capacity < max(stack, 1) + 1:
        raise ValueError(f"a capacity of {capacity} steps per env cannot hold one transition")

    def zeros(dtype, *shape):
        return jnp.zeros((capacity, num_envs, *shape), dtype)

    return Replay(
        obs=zeros(obs_dtype, *frame_shape),
        action=zeros(jnp.float32, *action_shape) if action_shape else zeros(jnp.int32),
        reward=zeros(jnp.float32),
        terminated=zeros(bool),
        valid=zeros(bool),
        stack_start=zeros(bool),
        count=jnp.zeros((), jnp.int32),
        stack=stack,
        action_mask=zeros(bool, masked_actions) if masked_actions else None,
    )


def nbytes(tree) -> int:
    """Bytes of every array leaf (works on the ShapeDtypeStructs of `jax.eval_shape` too)."""
    return sum(leaf.size * jnp.dtype(leaf.dtype).itemsize for leaf in jax.tree.leaves(tree))


def estimate_bytes(*args, **kwargs) -> int:
    """Exactly what `init(*args, **kwargs)` allocates, computed without allocating it."""
    return nbytes(jax.eval_shape(functools.partial(init, *args, **kwargs)))


def add(replay: Replay, obs, action, reward, terminated, valid, last_obs, masks=None) -> Replay:
    """Appends a rollout of T steps of every env (all [T, E, ...], as in `Trajectory`), and keeps
    `last_obs` [E, ...] as the pending next observation of its last step. `masks`: (the steps'
    action masks [T, E, A], last_obs's [E, A]) for a replay that keeps them.

    `valid` False marks EnvPool's reset steps. The pending slot is overwritten by the next rollout's
    first step, which is the same observation, so every added transition is sampleable at once.
    """
    capacity = replay.valid.shape[0]
    steps, num_envs = valid.shape
    observations = jnp.concatenate([obs, last_obs[None]])  # [T + 1, E, ...]
    if replay.stack:
        frames = observations[:, :, -1]
        frame_axes = tuple(range(2, observations.ndim))
        stack_start = jnp.all(observations[:, :, :-1] == observations[:, :, -1:], axis=frame_axes)
    else:
        frames, stack_start = observations, jnp.zeros((steps + 1, num_envs), bool)

    def pending(x, fill):  # the pending slot carries an observation only
        return jnp.concatenate([x, jnp.full((1, *x.shape[1:]), fill, x.dtype)])

    slots = (replay.count + jnp.arange(steps + 1)) % capacity

    def write(buffer, values):
        return buffer.at[slots].set(values.astype(buffer.dtype), unique_indices=True)

    return replay.replace(
        obs=write(replay.obs, frames),
        action=write(replay.action, pending(action, 0)),
        reward=write(replay.reward, pending(reward, 0)),
        terminated=write(replay.terminated, pending(terminated, False)),
        valid=write(replay.valid, pending(valid, False)),
        stack_start=write(replay.stack_start, stack_start),
        count=replay.count + steps,
        action_mask=None
        if replay.action_mask is None
        else write(replay.action_mask, jnp.concatenate([masks[0], masks[1][None]])),
    )


def drop_pending(replay: Replay) -> Replay:
    """Unmarks each env's last stored step: its next observation (the pending slot) will never
    arrive because the envs restarted (a resumed run), and the next rollout's first observation,
    from a new episode, will overwrite it."""
    capacity = replay.valid.shape[0]
    return replay.replace(valid=replay.valid.at[(replay.count - 1) % capacity].set(False))


def observation(replay: Replay, time: jax.Array, env: jax.Array) -> jax.Array:
    """The observation of step `time` of env `env` ([B] each): [B, *obs_shape], frame stacks rebuilt."""
    capacity = replay.valid.shape[0]
    if not replay.stack:
        return replay.obs[time % capacity, env]
    history = replay.stack
    if history == 1:
        return replay.obs[time % capacity, env][:, None]
    back = jnp.arange(history - 1)  # look at this step and the history - 2 before it
    starts = replay.stack_start[(time[:, None] - back) % capacity, env[:, None]]  # [B, history - 1]
    depth = jnp.where(starts.any(axis=1), jnp.argmax(starts, axis=1), history - 1)  # steps back in this stack
    depth = jnp.minimum(depth, time)  # nothing before the first step
    age = jnp.arange(history - 1, -1, -1)  # frame k of a stack is `age[k]` steps old
    source = time[:, None] - jnp.minimum(age, depth[:, None])  # [B, history]
    return replay.obs[source % capacity, env[:, None]]


def sampleable_range(replay: Replay) -> tuple[jax.Array, jax.Array]:
    """[first, last] step index whose transition and stacks are still in the ring."""
    capacity = replay.valid.shape[0]
    # the pending obs overwrote step count - capacity; a stack reaches stack - 1 steps further back
    first = jnp.maximum(0, replay.count - capacity + max(replay.stack, 1))
    return first, replay.count - 1


def sample(replay: Replay, key: jax.Array, batch_size: int, tries: int = 16) -> Batch:
    """`batch_size` transitions drawn uniformly, with replacement, from the stored ones.

    A draw that lands on a non-transition (a reset step) is redrawn, up to `tries` draws; the
    first real one is kept, so the result is uniform over real transitions. If all draws fail
    (probability (reset-step fraction)^tries: 1e-21 at one reset in 20 steps) the draw is masked out.
    """
    capacity, num_envs = replay.valid.shape
    first, last = sampleable_range(replay)
    time_key, env_key = jax.random.split(key)
    time = first + jax.random.randint(time_key, (tries, batch_size), 0, jnp.maximum(last - first + 1, 1))
    env = jax.random.randint(env_key, (tries, batch_size), 0, num_envs)
    real = replay.valid[time % capacity, env] & (time <= last)
    pick = jnp.argmax(real, axis=0)[None]  # first real draw of each column

    def take(x):
        return jnp.take_along_axis(x, pick, axis=0)[0]

    time, env = take(time), take(env)
    slot = time % capacity
    return Batch(
        obs=observation(replay, time, env),
        action=replay.action[slot, env],
        reward=replay.reward[slot, env],
        terminated=replay.terminated[slot, env],
        next_obs=observation(replay, time + 1, env),
        mask=real.any(axis=0),
        time=time,
        env=env,
        next_action_mask=None if replay.action_mask is None else replay.action_mask[(time + 1) % capacity, env],
        action_mask=None if replay.action_mask is None else replay.action_mask[slot, env],
    )


def add_trajectory(replay: Replay, traj: Trajectory) -> Replay:
    """`add` of a rollout's steps, with their action masks where the replay keeps them."""
    masks = (action_mask(traj.info), action_mask(traj.last_info))
    return add(replay, traj.obs, traj.action, traj.reward, traj.terminated, traj.valid, traj.last_obs, masks)


def update_schedule(replay: Replay, env_steps, num_envs: int, train_every: int, updates: int):
    """The gradient steps of a learn call that follows `env_steps` env steps with a rollout of
    `updates * train_every`: (each one's env step, the steps in the replay by then), [updates] each.
    `replay` is the one before the rollout was added."""
    offsets = train_every * (1 + jnp.arange(updates))
    return env_steps + offsets, replay.count * num_envs + offsets


def crossed(env_step, every: int, stride: int):
    """Whether a multiple of `every` lies in (env_step - stride, env_step]: a periodic update falls
    due in the `stride` env steps up to `env_step`."""
    return env_step // every != (env_step - stride) // every
