"""The population axis: P members (seeds x hyperparameter points) side by side in every array.
Agent functions are vmapped over it here and nowhere else."""

import jax
import jax.numpy as jnp

from jaxrl.core.episodes import init_recent
from jaxrl.core.types import Agent


def members_in_sequence() -> bool:
    """Whether agent functions run over the members one after another (`lax.map`) rather than
    side by side (`vmap`). No: vmap batches the members' matrix products into one (an MLP's, and
    on XLA:CPU the Nature CNN's, see `jaxrl.core.networks.convolutions_as_matmuls`), and a loop
    would run a convolution ~10x slower on XLA:CPU; `experiments/bench.py --only pong-population`
    measures both (BENCHMARKS "Populations on Atari: the members' update")."""
    return False


def over_members(fn, population: int, in_axes=0):
    """`fn` over the population axis (`in_axes`, as vmap's), outputs on axis 0: vmapped, or
    `lax.map`ped where `members_in_sequence`; a population of one calls `fn` directly.

    Vmapping a convolution over batched weights turns it into a grouped convolution, which XLA's
    CPU backend runs far slower than the plain one: single runs must not pay for that (and on
    XLA:CPU the Nature CNN has no convolution op: `jaxrl.core.networks.convolutions_as_matmuls`).
    """
    if population == 1:
        return lambda *args: jax.tree.map(
            lambda x: jnp.expand_dims(x, 0), fn(*member_major(args, in_axes, squeeze=True))
        )
    if members_in_sequence():
        return lambda *args: jax.lax.map(lambda member: fn(*member), member_major(args, in_axes))
    return jax.vmap(fn, in_axes=in_axes)


def member_major(args: tuple, in_axes, squeeze: bool = False) -> tuple:
    """`args` with the population axis (`in_axes`, as vmap's) first, or (`squeeze`, a population
    of one) without it."""
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)

    def move(axis, x):
        return jnp.squeeze(x, axis) if squeeze else jnp.moveaxis(x, axis, 0)

    return tuple(
        jax.tree.map(lambda axis, subtree: jax.tree.map(lambda x: move(axis, x), subtree), axis_tree, arg)
        for axis_tree, arg in zip(axes, args, strict=True)
    )


def split_keys(keys: jax.Array) -> tuple[jax.Array, jax.Array]:
    """[P, 2] keys -> (the members' next keys, a key for each member to use now)."""
    keys, use = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
    return keys, use


def finite_per_member(tree) -> jax.Array:
    """Leaves [P, ...] -> [P] bool: every float of the member is finite."""
    by_dtype: dict = {}
    for x in jax.tree.leaves(tree):
        if jnp.issubdtype(x.dtype, jnp.inexact):
            by_dtype.setdefault(x.dtype, []).append(x.reshape(x.shape[0], -1))
    # one reduction over the leaves side by side: a reduction per leaf is kernels to compile
    rows = [jnp.concatenate(leaves, axis=1) for leaves in by_dtype.values()]
    return jnp.stack([jnp.isfinite(row).all(axis=1) for row in rows]).all(axis=0)


def freeze_diverged(old_agent, new_agent, metrics: dict, diverged_at, env_steps, networks: tuple[str, ...]):
    """Keeps the last finite networks (the agent state fields named in `networks`) of a member
    whose update produced a NaN or inf, in a loss or a network, and records the step; the other
    members are untouched, bit for bit. The rest of the state (replay, counters) goes on.

    Returns (agent state, diverged_at [P]).
    """
    learned = {name: getattr(new_agent, name) for name in networks}
    finite = finite_per_member((learned, metrics))
    diverged_at = jnp.where((diverged_at < 0) & ~finite, env_steps, diverged_at)
    keep_old = diverged_at >= 0

    def select(old, new):
        return jnp.where(keep_old.reshape(-1, *[1] * (new.ndim - 1)), old, new)

    frozen = {name: jax.tree.map(select, getattr(old_agent, name), tree) for name, tree in learned.items()}
    return new_agent.replace(**frozen), diverged_at


def init_learning(agent: Agent, seeds: jax.Array, hyper) -> dict:
    """The learning part of a fresh population state (what a checkpoint holds), for members with
    these seeds [P] and hyperparameters (leaves [P])."""
    keys = jax.vmap(jax.random.PRNGKey)(seeds)
    keys, init_keys = split_keys(keys)
    return dict(
        # One member after another, not vmapped: jaxlib's batched QR (orthogonal init) shares
        # XLA's CPU thread pool with the kernels that wait on it and can deadlock on 2 cores
        # (reproduced: a vmapped init of 4 hangs within seconds of repeated calls).
        agent=jax.lax.map(lambda member: agent.init(*member), (init_keys, hyper)),
        recent=jax.vmap(lambda _: init_recent())(seeds),
        key=keys,
        env_steps=jnp.zeros((), jnp.int32),
        diverged_at=jnp.full(seeds.shape, -1, jnp.int32),
    )
