"""A population spread over the local devices: equal groups of members, one group per device,
each group with its own env pool and its own compiled programs, chosen automatically when more
than one device is present.

Why groups and not one sharded program: EnvPool's XLA call embeds the address of ONE pool and
has no partitioning rule, so a program stepping envs cannot be split across devices by XLA; the
runner's programs for one group already vmap its members. Every iteration is dispatched to
every device before any result is awaited, so the devices work at the same time. Member k
computes exactly what it computes in a one-device run (same seeds, same env seeds), and a
checkpoint holds the whole population, whatever the number of devices that wrote it.
"""

import ctypes
import dataclasses
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.config import RunConfig
from jaxrl.core import buffers
from jaxrl.core.programs import Programs
from jaxrl.core.types import Agent, Env, reset_env
from jaxrl.training.assembly import Assembly, assemble
from jaxrl.training.checkpoints import drop_replay, env_part, replay_of, resumed_handle, resumed_state, saved_state
from jaxrl.training.population import Population


def group_count(size: int, devices: int) -> int:
    """The most devices that split `size` members into equal groups."""
    return max(count for count in range(1, min(size, devices) + 1) if size % count == 0)


class Group(NamedTuple):
    members: range  # population indices
    device: Any
    parts: Assembly  # the group's env pool, agent and programs
    hyper: Any  # the members' Hyper, on `device`
    seeds: np.ndarray  # [members] int32

    @property
    def env(self) -> Env:
        return self.parts.env

    @property
    def programs(self) -> Programs:
        return self.parts.programs


def slice_members(tree, members: range):
    """Members `members` of every leaf with the population axis (all but the env-step counter)."""
    return jax.tree.map(lambda x: x[members.start : members.stop] if np.ndim(x) else x, tree)


def host_metrics(groups: list[list[dict]]) -> dict:
    """Per group of members, device metrics {name: [members]} per iteration (or [n, members] per n
    iterations run as one program) -> NumPy {name: [iterations, P]}, the groups side by side in
    member order. Waits for the devices."""
    groups = jax.device_get(groups)

    def iterations(block):  # [members] or [n, members] -> [n, members]
        return np.reshape(block, (-1, np.shape(block)[-1]))

    return {
        key: np.concatenate([np.concatenate([iterations(m[key]) for m in group]) for group in groups], axis=1)
        for key in groups[0][0]
    }


# A state this big (a replay) is allocated only after the programs are compiled, the memory the
# compiler used is handed back and the run is known to fit (XLA:CPU needed ~1.5 GB transiently
# for Pong DQN's update when its gradient steps were unrolled).
ALLOCATE_AFTER_COMPILING = 64 << 20


def release_freed_memory() -> None:
    """Hands the heap's freed pages back to the OS (glibc keeps them otherwise: the peak RSS would
    carry the compiler's transient gigabyte on top of the replay). A no-op where there is no glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def started_compiling(programs: Programs, env: Env, seeds: np.ndarray, hyper, device, compiled=None):
    """`programs.init` on the default device, with the env-stepping program compiled on a second
    thread meanwhile. Returns (state, handle). `compiled({"collect": ..., "update": ...},
    state_made)`, if given, is called with the compiled programs before a big state is allocated
    (the memory check that may refuse the run; `state_made`: a small one already is).

    `collect` holds EnvPool's XLA call; on CPU the persistent cache serves it (`envs.envpool_xla`),
    elsewhere it compiles in every process (EnvPool's own call embeds the pool's address). XLA
    compiles, and loads from the cache, without the GIL, so the initial state and the update are
    made at the same time: unless the state is big (ALLOCATE_AFTER_COMPILING), then memory goes first.
    Lowered here with the arguments the loop calls them with, outside any device context, the
    jitted functions then find both compiled."""
    handle, obs, info = reset_env(env)
    handle = jax.device_put(handle, device)
    placed = jax.sharding.SingleDeviceSharding(device)  # `hyper` lives on the device: so does all else

    def on_device(shapes):
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=placed), shapes)

    shapes = on_device(jax.eval_shape(programs.start, seeds, hyper, obs, info))
    big = buffers.nbytes(shapes) >= ALLOCATE_AFTER_COMPILING
    collect = programs.collect.lower(shapes, handle)
    with ThreadPoolExecutor(1) as pool:
        compiling = pool.submit(collect.compile)
        state = None if big else programs.start(seeds, hyper, obs, info)
        state_after, _, traj, ended = on_device(collect.out_info)
        update = programs.update.lower(state_after, traj, ended, hyper).compile()
        collect = compiling.result()
    release_freed_memory()
    if compiled:
        compiled({"collect": collect, "update": update}, state_made=not big)
    if big:
        state = programs.start(seeds, hyper, obs, info)
    return state, handle


def train_chunk(programs: Programs, state, handle, hyper, num_iterations: int):
    """`num_iterations` rollouts and updates of one group; one sync at the end. Returns the new
    state and handle and the metrics as NumPy arrays [num_iterations, P]."""
    state, handle, metrics = programs.dispatch(state, handle, hyper, num_iterations)
    return state, handle, host_metrics([metrics])


@functools.partial(jax.jit, donate_argnums=0)
def put_members(tree, children, values):
    """`tree` with members `children` [k] replaced by `values` (leaves [k, ...]), in place."""
    return jax.tree.map(lambda x, v: x.at[children].set(v), tree, values)


@jax.jit
def take_members(tree, members):
    return jax.tree.map(lambda x: x[members], tree)


def join_members(trees: list):
    """The inverse of slice_members over consecutive groups, as host arrays."""
    if len(trees) == 1:
        return trees[0]
    return jax.tree.map(lambda *xs: np.concatenate(xs) if np.ndim(xs[0]) else np.asarray(xs[0]), *jax.device_get(trees))


class Fleet:
    """The groups and their running states; `train_chunk` and the checkpoint views span them all."""

    def __init__(self, config: RunConfig, population: Population, restarts: int):
        devices = jax.local_devices()
        size = len(population.seeds)
        per_group = size // group_count(size, len(devices))
        self.groups: list[Group] = []
        try:
            for index, start in enumerate(range(0, size, per_group)):
                members = range(start, start + per_group)
                seeds = [population.seeds[m] for m in members]
                parts = assemble(config, seeds, restarts)
                hyper = jax.device_put(slice_members(population.hyper, members), devices[index])
                self.groups.append(Group(members, devices[index], parts, hyper, np.asarray(seeds, np.int32)))
        except BaseException:
            self.close()
            raise
        self.states, self.handles = [], []

    @property
    def algorithm(self):
        return self.groups[0].parts.algorithm

    @property
    def agent(self) -> Agent:
        return self.groups[0].parts.agent

    @property
    def spec(self):
        return self.groups[0].parts.env.spec

    def init(self, saved: dict | None = None, read_replay=None, compiled=None) -> None:
        """Fresh members, or (`saved`: a checkpoint's `state` arrays) resumed ones on restarted
        envs; `read_replay(members, into)`: the checkpoint's replay of these members (of this
        process) read into the fresh buffers `into`, or None. `compiled`: see `started_compiling`
        (called where the programs are compiled before the state is made: one group, EnvPool)."""
        for group in self.groups:
            if len(self.groups) == 1 and not group.env.jax_native:
                state, handle = started_compiling(
                    group.programs, group.env, group.seeds, group.hyper, group.device, compiled
                )
            else:  # on the group's device; its programs compile at their first call
                with jax.default_device(group.device):
                    state, handle = group.programs.init(group.seeds, group.hyper)
            if saved is not None:
                with jax.default_device(group.device):
                    member_saved = jax.device_put(slice_members(saved, group.members), group.device)
                    replay = read_replay(group.members, replay_of(self.algorithm, state)) if read_replay else None
                    state = resumed_state(self.algorithm, state, member_saved, replay)
                    handle = resumed_handle(member_saved, handle)
            self.states.append(state)
            self.handles.append(jax.device_put(handle, group.device))

    def train_chunk(self, num_iterations: int) -> dict:
        """`num_iterations` rollouts and updates of every group, dispatched to every device before
        any is awaited; metrics [num_iterations, P]."""
        metrics = []
        for index, group in enumerate(self.groups):
            self.states[index], self.handles[index], group_metrics = group.programs.dispatch(
                self.states[index], self.handles[index], group.hyper, num_iterations
            )
            metrics.append(group_metrics)
        return host_metrics(metrics)

    def saved(self) -> dict:
        """The `state` item of a checkpoint: every member's, as host arrays; with a JAX env, the
        envs' side too."""
        jax_env = self.groups[0].env.jax_native
        # the envs' states reach the host before they are regrouped per member: reshaping them on
        # the device compiles an eager program per leaf
        return join_members(
            [
                saved_state(self.algorithm, state, jax.device_get(handle) if jax_env else None)
                for state, handle in zip(self.states, self.handles, strict=True)
            ]
        )

    def env_like(self) -> dict:
        """The ShapeDtypeStructs of the env side of a checkpoint (a JAX env's; {} for others),
        nothing computed."""
        group = self.groups[0]
        if not group.env.jax_native:
            return {}
        shapes = jax.eval_shape(lambda: env_part(*group.programs.init(group.seeds, group.hyper)))
        count = len(self.groups)  # every group alike: the population is their concatenation
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct((x.shape[0] * count, *x.shape[1:]), x.dtype), shapes)

    def replays(self) -> list[tuple[range, object]]:
        """(members, their replay on the device) per group: the `replay` item, group by group
        (never joined into one host copy)."""
        return [
            (group.members, replay_of(self.algorithm, state))
            for group, state in zip(self.groups, self.states, strict=True)
        ]

    def exploit(self, children: np.ndarray, parents: np.ndarray, copy_replay: bool) -> None:
        """PBT's exploit step: each member `children[i]` takes over the networks (and, with
        `copy_replay`, the replay) of member `parents[i]`, and is healthy again (a diverged one
        trains from its parent's networks); its envs, episodes, recent returns and RNG key stay
        its own. Parents are read before any child is written: a member is never both (PBT's
        bottom and top fractions are disjoint)."""
        fields = self.algorithm.networks + ((self.algorithm.replay,) if copy_replay and self.algorithm.replay else ())
        per_group = len(self.groups[0].members)
        pairs = {}  # (child group, parent group) -> [(child, parent)], both local to their groups
        for child, parent in zip(children, parents, strict=True):
            (group, local), (source, parent_local) = divmod(int(child), per_group), divmod(int(parent), per_group)
            pairs.setdefault((group, source), []).append((local, parent_local))
        copies = {}  # child group -> [(its local children, their parents' values on its device)]
        for (group, source), members in pairs.items():  # one gather per pair of groups
            agent = self.states[source].agent
            picked = take_members({name: getattr(agent, name) for name in fields}, np.asarray([p for _, p in members]))
            copies.setdefault(group, []).append(
                ([c for c, _ in members], jax.device_put(picked, self.groups[group].device))
            )
        for group, parts in copies.items():  # (parents were all read above: no child is a parent)
            local = np.asarray([child for children_of, _ in parts for child in children_of], np.int32)
            values = (
                parts[0][1]
                if len(parts) == 1
                else jax.tree.map(lambda *xs: jnp.concatenate(xs), *[v for _, v in parts])
            )
            state = self.states[group]
            agent = put_members({name: getattr(state.agent, name) for name in fields}, local, values)
            self.states[group] = state.replace(
                agent=state.agent.replace(**agent), diverged_at=state.diverged_at.at[local].set(-1)
            )

    def set_hyper(self, values: dict[str, np.ndarray]) -> None:
        """Every member's hyperparameters from now on ({name: [P]}, the others unchanged): arrays
        the compiled programs take as arguments, so nothing recompiles."""
        for index, group in enumerate(self.groups):
            members = slice(group.members.start, group.members.stop)
            changed = {name: jnp.asarray(value[members], jnp.float32) for name, value in values.items()}
            hyper = jax.device_put(dataclasses.replace(group.hyper, **changed), group.device)
            self.groups[index] = group._replace(hyper=hyper)

    def diverged_at(self) -> np.ndarray:
        return np.concatenate([np.asarray(jax.device_get(state.diverged_at)) for state in self.states])

    def agent_states(self):
        """Every member's agent state without its replay, as host arrays (evaluation plays with
        the networks only)."""
        return join_members([jax.device_get(drop_replay(self.algorithm, state.agent)) for state in self.states])

    def first_member_agent(self):
        """Member 0's agent state without its replay (videos need the networks only)."""
        return jax.tree.map(lambda x: x[0], drop_replay(self.algorithm, self.states[0].agent))

    def close(self) -> None:
        for group in self.groups:
            group.env.close()
