"""The rollout and update programs of a population of P members, each with E envs: one pool of
P*E envs serves them all (or G pipelined pools, `Env.groups`, stepping while the device acts on
another), and every agent function is vmapped over the members (see `jaxrl.core.population`).

Host-stepped envs (EnvPool, gymnasium) run each iteration as two programs, `collect` and
`update`. A JAX env (`Env.jax_native`) runs a whole chunk of iterations as ONE program, a
loop of collect-then-update whose carry holds the envs' state: nothing leaves the device until
the chunk ends, and the chunk's length is data, so every chunk of a run runs one program.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.core.compiling import device_argument, jit_once
from jaxrl.core.distributions import action_mask
from jaxrl.core.episodes import (
    EPISODE_SUM,
    EndedEpisodes,
    EpisodeStats,
    RecentReturns,
    init_stats,
    push_recent,
    recent_mean,
    update_stats,
)
from jaxrl.core.population import freeze_diverged, init_learning, over_members, split_keys
from jaxrl.core.types import Agent, Env, EnvSpec, Step, Trajectory, full_act, initial_carry, join_steps, reset_env


class RunnerState(struct.PyTreeNode):
    agent: Any  # algorithm state, leaves [P, ...]
    obs: jax.Array  # [P, E, *obs_shape], the next observation each member acts on
    prev_done: jax.Array  # [P, E] bool: obs is terminal, so the next env step is EnvPool's reset step
    episodes: EpisodeStats  # [P, E]
    recent: RecentReturns  # [P, 20]: last finished episodes per member
    key: jax.Array  # [P, 2] uint32
    env_steps: jax.Array  # int32 scalar: env steps taken by each member so far
    diverged_at: jax.Array  # [P] int32: env step of the member's first non-finite update, -1 while healthy
    # What the agent acts on beside obs: the env's info for obs (leaves [P, E, ...]; () by default),
    # whether obs starts an episode [P, E] bool, and the agent's carry (leaves [P, E, ...]; () for
    # a feed-forward agent), threaded from act to act across rollouts and chunks.
    info: Any
    first: jax.Array
    carry: Any


# What a checkpoint keeps: everything learned and counted. The env side (observations, episodes
# in progress) cannot be saved: EnvPool's state lives in C++, and a resume restarts it.
SAVED_FIELDS = ("agent", "recent", "key", "env_steps", "diverged_at")
# A JAX env's side, saved too (with the handle, the envs' own states and keys): a resumed run
# continues the same episodes, bit for bit, the agent's carry included.
ENV_FIELDS = ("obs", "prev_done", "episodes", "info", "first", "carry")


class Programs(NamedTuple):
    init: Any  # (seeds [P], hyper [P]) -> (state, handle): resets the envs, then `start`
    start: Any  # (seeds [P], hyper [P], first obs [P*E, ...], their info [P*E, ...] or ()) -> state
    collect: Any  # jitted: (state, handle) -> (state, handle, traj [T, P, E, ...], ended episodes [T, P, E])
    update: Any  # jitted: (state, traj, ended, hyper) -> (state, metrics [P])
    # (state, handle, hyper, num_iterations) -> (state, handle, [device metrics, leaves [P] or [n, P]])
    dispatch: Any


def group_major(seeds_by_member: list[list[int]], groups: int) -> list[int]:
    """The env seeds of P members (E each) in a pipelined env's order: group g holds envs
    g*E/G..(g+1)*E/G - 1 of every member, member after member (`Env.groups`)."""
    size = len(seeds_by_member[0]) // groups
    return [s for g in range(groups) for seeds in seeds_by_member for s in seeds[g * size : (g + 1) * size]]


class Layout(NamedTuple):
    """Where each member's envs sit in the env's axis: P members of E envs, in G pipelined pools."""

    population: int
    num_envs: int  # per member
    groups: int

    def per_member(self, x):
        """[N, ...] in the env's order, group-major [G, P, E/G] -> [P, E, ...]."""
        x = x.reshape(self.groups, self.population, self.num_envs // self.groups, *x.shape[1:])
        return jnp.moveaxis(x, 0, 1).reshape(self.population, self.num_envs, *x.shape[3:])

    def flat(self, x):
        """[P, E, ...] -> [P*E, ...] (one pool: the pipelined rollout sends by group)."""
        return x.reshape(self.population * self.num_envs, *x.shape[2:])


def first_of(prev_done: jax.Array, step: Step) -> jax.Array:
    """Whether the obs a step returned starts an episode: a reset step's obs (EnvPool's rule,
    gymnasium's, a JAX env's after a truncation), or the obs of an env that reset inside the
    step that ended its episode (a JAX env's termination: no reset step follows)."""
    done = step.terminated | step.truncated
    reset_next = done if step.reset_next is None else step.reset_next
    return prev_done | (done & ~reset_next)


def pipelined_rollout(env: Env, act, record, population: int, rollout_steps: int):
    """The rollout of a pipelined env (`Env.groups` G pools): the first actions sent, T-1 steps of
    `recv_act_send`, and the last step received without acting: the next rollout acts with the
    updated networks, so on-policy algorithms stay on-policy. `act(state, obs, info, first, envs)`
    -> (state, action, extras) for the members' envs `envs` (a slice of E) and `record(state,
    action, extras, Step [N])` -> (state, outputs) are the synchronous rollout's. Returns (state,
    handle, outputs [T, ...])."""
    groups, size = env.groups, env.num_envs // population // env.groups  # size: envs per member and group
    env_send, env_recv = env.send, env.recv
    assert env_send is not None and env_recv is not None, "a pipelined env has send and recv"

    def send(handle, group: int, action):  # action [P, E/G(, A)]: the members' envs in pool `group`
        return env_send(handle, group, env.spec.clip_action(action.reshape(population * size, *action.shape[2:])))

    def recv(handle, group: int):  # the barrier keeps every send before the next receive (see below)
        return env_recv(jax.lax.optimization_barrier(handle), group)

    def recv_act_send(carry, _):
        """One step: each pool in turn is received, acted on and sent its next actions, so the
        device acts on pool g while the pools sent before it step. The pools' calls share no
        operand, so nothing else would stop XLA from moving a receive before an earlier send."""
        state, handle, action, extras = carry  # action [P, E]: in flight, taken on state.obs
        steps, acted = [], []  # per pool: Step [P*E/G], (action [P, E/G(, A)], extras [P, E/G])
        for group in range(groups):
            handle, step = recv(handle, group)
            envs = slice(group * size, (group + 1) * size)
            step_of_members = jax.tree.map(lambda x: x.reshape(population, size, *x.shape[1:]), step)
            first = first_of(state.prev_done[:, envs], step_of_members)
            state, group_action, group_extras = act(state, step_of_members.obs, step_of_members.info, first, envs)
            handle = send(handle, group, group_action)
            steps.append(step)
            acted.append((group_action, group_extras))
        state, outputs = record(state, action, extras, join_steps(steps))
        action, extras = jax.tree.map(lambda *parts: jnp.concatenate(parts, axis=1), *acted)
        return (state, handle, action, extras), outputs

    def rollout(state, handle):
        state, action, extras = act(state, state.obs, state.info, state.first, slice(None))
        for group in range(groups):
            handle = send(handle, group, action[:, group * size : (group + 1) * size])
        carry = (state, handle, action, extras)
        (state, handle, action, extras), outputs = jax.lax.scan(recv_act_send, carry, None, length=rollout_steps - 1)
        steps = []
        for group in range(groups):
            handle, step = recv(handle, group)
            steps.append(step)
        state, last = record(state, action, extras, join_steps(steps))
        return state, handle, jax.tree.map(lambda xs, x: jnp.concatenate([xs, x[None]]), outputs, last)

    return rollout


def init_arguments(seeds, hyper) -> tuple[Any, Any]:
    """(seeds as int32, a private copy of `hyper`) for an init program, made without XLA: on an
    array that is not traced, `jnp.copy` compiles an eager program of its own (cold, ~10-25 ms);
    `device_put` copies instead (never aliasing: the init donates `hyper`). An array spanning
    processes (`--distributed`), which `device_put` cannot copy, takes `jnp.copy`."""

    def private(x):
        concrete = isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer)
        spans_processes = concrete and not x.is_fully_addressable
        return jnp.copy(x) if spans_processes else jax.device_put(x, may_alias=False)

    return device_argument(seeds, np.int32), jax.tree.map(private, hyper)


def starting(agent: Agent, env: Env, layout: Layout):
    """(init, start): a fresh population state on the envs' first observations (and their info),
    every obs an episode's first, every carry the agent's initial one."""

    def init_state(seeds: jax.Array, hyper, obs: jax.Array, info) -> RunnerState:
        population, num_envs = layout.population, layout.num_envs
        return RunnerState(
            **init_learning(agent, seeds, hyper),
            obs=layout.per_member(obs),
            prev_done=jnp.zeros((population, num_envs), bool),
            episodes=jax.vmap(lambda _: init_stats(num_envs))(seeds),
            info=jax.tree.map(layout.per_member, info),
            first=jnp.ones((population, num_envs), bool),
            carry=jax.vmap(lambda _: initial_carry(agent, num_envs))(seeds),
        )

    # jit may forward an input buffer straight into the output (an optimizer state holding the
    # learning rate, say); donating a private copy of `hyper` keeps the state free of aliases of
    # the arrays passed beside it to `collect` and `update`, which donate the state.
    # (jax.jit, not jit_once: EnvPool's init compiles while `update`, a longer compile, does
    # (`fleet.start`), so a faster one would not shorten the start; a JAX env's init is its own)
    jitted_init = jax.jit(init_state, donate_argnums=1)

    def start(seeds, hyper, obs: jax.Array, info=()) -> RunnerState:
        return jitted_init(*init_arguments(seeds, hyper), obs, info)

    def init(seeds, hyper) -> tuple[RunnerState, Any]:
        handle, obs, info = reset_env(env)
        return start(seeds, hyper, obs, info), handle

    if not env.jax_native:
        return init, start

    # A JAX env resets inside the same program: one compile (and one cache entry) fewer per run,
    # at jit_once's cheaper optimisation (the same parameters; see jaxrl.core.compiling).
    @jit_once(donate_argnums=1)
    def reset_and_init(seeds: jax.Array, hyper) -> tuple[RunnerState, Any]:
        handle, obs, info = reset_env(env)
        return init_state(seeds, hyper, obs, info), handle

    def jax_env_init(seeds, hyper) -> tuple[RunnerState, Any]:
        return reset_and_init(*init_arguments(seeds, hyper))

    return jax_env_init, start


def acting(agent: Agent, layout: Layout):
    """(act, record): the members act on what the envs showed, and a Step becomes a transition."""
    policy = over_members(full_act(agent), layout.population)

    def act(state: RunnerState, obs: jax.Array, info, first: jax.Array, envs: slice):
        """The members' actions [P, E'(, A)] on the observations [P, E', ...] of their envs `envs`
        (a slice of E), with a fresh key each; the carry of those envs moves on."""
        keys, act_keys = split_keys(state.key)
        carry = jax.tree.map(lambda x: x[:, envs], state.carry)
        action, carry, extras = policy(state.agent, carry, obs, first, info, act_keys)
        carry = jax.tree.map(lambda whole, part: whole.at[:, envs].set(part), state.carry, carry)
        return state.replace(key=keys, carry=carry), action, extras

    def record(state: RunnerState, action, extras, step: Step):
        """The transition of `action` taken on `state.obs`, given the env's `step` [N]."""
        step = jax.tree.map(layout.per_member, step)
        valid = ~state.prev_done  # a reset step ignores its action: no transition to learn from
        episodes, ended = jax.vmap(update_stats)(
            state.episodes, step.game_reward, step.game_over, valid, step.episode_info
        )
        flags = (step.terminated, step.truncated, valid)
        transition = (state.obs, action, step.reward, *flags, extras, state.first, state.info)
        reset_next = step.terminated | step.truncated if step.reset_next is None else step.reset_next
        first = first_of(state.prev_done, step)
        state = state.replace(obs=step.obs, prev_done=reset_next, episodes=episodes, info=step.info, first=first)
        return state, (transition, ended)

    return act, record


def collecting(env: Env, act, record, layout: Layout, rollout_steps: int):
    """The rollout: T env steps of every member -> (state, handle, traj [T, P, E, ...], ended)."""

    def env_step(carry, _):
        state, handle = carry
        state, action, extras = act(state, state.obs, state.info, state.first, slice(None))  # [P, E(, A)]
        # Box actions reach the env clipped to its bounds; the trajectory keeps them as sampled
        handle, step = env.step(handle, env.spec.clip_action(layout.flat(action)))
        state, out = record(state, action, extras, step)
        return (state, handle), out

    def collect(state: RunnerState, handle):
        """T env steps of every member. Holds EnvPool's XLA call: on CPU the persistent cache
        serves it (`envs.envpool_xla`), elsewhere it compiles in every process: keep it small."""
        carry = state.carry  # at the rollout's start: a recurrent learner replays from it
        if layout.groups > 1:
            pipelined = pipelined_rollout(env, act, record, layout.population, rollout_steps)
            state, handle, (transitions, ended) = pipelined(state, handle)
        else:
            (state, handle), (transitions, ended) = jax.lax.scan(env_step, (state, handle), None, length=rollout_steps)
        obs, action, reward, terminated, truncated, valid, extras, first, info = transitions  # [T, P, E, ...]
        traj = Trajectory(
            obs,
            action,
            reward,
            terminated,
            truncated,
            valid,
            extras,
            state.obs,
            first=first,
            info=info,
            carry=carry,
            last_info=state.info,
            last_first=state.first,
        )
        return state, handle, traj, ended

    return collect


# How `update` maps a time-major rollout over the members: the population is axis 1 of every
# [T, P, E, ...] field, axis 0 of last_obs, last_info, last_first and of the carry at the rollout's start.
TRAJ_AXES = Trajectory._make([1] * 7 + [0, 1, 1, 0, 0, 0])  # obs ... extras, last_obs, first, info, carry, last_*


def stuck_steps(traj: Trajectory) -> dict:
    """{"no_legal_action": [P] int32, the rollout's real steps whose mask allows no action} for
    an env that reports masks (a host hook stops the run on one); {} for one that does not."""
    mask = action_mask(traj.info)  # [T, P, E, A]
    if mask is None:
        return {}
    return {"no_legal_action": jnp.sum(~mask.any(axis=-1) & traj.valid, axis=(0, 2), dtype=jnp.int32)}


def team_counts(ended: EndedEpisodes, spec: EnvSpec) -> dict:
    """A multi-agent env's per-iteration counts, [P] each: "agent_return_sum_<a>", the returns of
    the episodes agent a ended (a game's agents end together, so each ended episodes_ended / A of
    them), and "episodes_won" where the env says what a win returns."""
    counts = {}
    if spec.agents:  # rows are game-major: row e * A + a is agent a of game e
        returns = ended.episode_return.reshape(*ended.episode_return.shape[:2], -1, len(spec.agents))
        sums = returns.sum(axis=(0, 2))  # [P, A]
        counts.update({f"agent_return_sum_{index}": sums[:, index] for index in range(len(spec.agents))})
    if spec.win_return is not None:
        counts["episodes_won"] = jnp.sum(ended.ended & (ended.episode_return > spec.win_return), axis=(0, 2))
    return counts


def updating(agent: Agent, layout: Layout, rollout_steps: int, networks: tuple[str, ...], spec: EnvSpec):
    """`update`: every member learns from its rollout; the NaN guard and the episode counts."""
    population = layout.population

    def update(state: RunnerState, traj: Trajectory, ended, hyper):
        """Pure (no env), so JAX's persistent compilation cache serves it to later processes: the
        big compile is paid once per machine."""
        keys, learn_keys = split_keys(state.key)
        learn = over_members(agent.learn, population, in_axes=(0, TRAJ_AXES, 0, 0))
        agent_state, metrics = learn(state.agent, traj, hyper, learn_keys)
        env_steps = state.env_steps + rollout_steps * layout.num_envs
        agent_state, diverged_at = freeze_diverged(
            state.agent, agent_state, metrics, state.diverged_at, env_steps, networks
        )

        def member_major(x):  # [T, P, E] -> [P, T*E], time order kept
            return jnp.moveaxis(x, 1, 0).reshape(population, -1)

        recent = jax.vmap(push_recent)(state.recent, member_major(ended.ended), member_major(ended.episode_return))
        metrics = dict(
            metrics,
            episodes_ended=ended.ended.sum(axis=(0, 2)),
            episode_return_sum=ended.episode_return.sum(axis=(0, 2)),
            episode_length_sum=ended.episode_length.sum(axis=(0, 2)),
            **{EPISODE_SUM + tag: value.sum(axis=(0, 2)) for tag, value in dict(ended.info or {}).items()},
            recent_return=jax.vmap(recent_mean)(recent),
            env_steps=jnp.full((population,), env_steps),
            diverged_at=diverged_at,
            **stuck_steps(traj),
            **team_counts(ended, spec),
        )
        state = state.replace(agent=agent_state, recent=recent, key=keys, env_steps=env_steps, diverged_at=diverged_at)
        return state, metrics

    return update


def fused_dispatcher(rollout, learn):
    """A JAX env's chunk: `num_iterations` rollouts and updates as ONE program (a loop whose
    carry holds the envs' state), dispatched and not awaited."""

    @jax.jit  # traced once, for the shapes of its metrics and as the loop's body (0.6 s on CartPole)
    def one_iteration(state: RunnerState, handle, hyper):
        state, handle, traj, ended = rollout(state, handle)
        state, metrics = learn(state, traj, ended, hyper)
        return state, handle, metrics

    def iterations(state: RunnerState, handle, hyper, num_iterations: jax.Array, length: int):
        """`num_iterations` (<= `length`, a traced count) iterations: metrics [length, P], rows
        past `num_iterations` zero. The count is data, not shape, so a run's last, shorter chunk
        reuses the program its full chunks compiled."""
        shapes = jax.eval_shape(one_iteration, state, handle, hyper)[2]
        rows = jax.tree.map(lambda x: jnp.zeros((length, *x.shape), x.dtype), shapes)

        def body(index, carry):
            state, handle, rows = carry
            state, handle, metrics = one_iteration(state, handle, hyper)
            rows = jax.tree.map(lambda block, x: block.at[index].set(x), rows, metrics)
            return state, handle, rows

        return jax.lax.fori_loop(0, num_iterations, body, (state, handle, rows))

    fused = jax.jit(iterations, static_argnums=4, donate_argnums=(0, 1))
    first_rows = jax.jit(lambda rows, n: jax.tree.map(lambda x: x[:n], rows), static_argnums=1)
    compiled_length = [0]  # the longest chunk compiled so far: shorter ones run in its program

    def dispatch(state: RunnerState, handle, hyper, num_iterations: int):
        length = compiled_length[0] = max(compiled_length[0], num_iterations)
        # np.int32: jnp.int32 would compile an eager conversion program
        state, handle, rows = fused(state, handle, hyper, np.int32(num_iterations), length)
        return state, handle, [rows if num_iterations == length else first_rows(rows, num_iterations)]

    return dispatch


def stepped_dispatcher(collect, update):
    """A host env's chunk: `num_iterations` rollouts and updates, two programs each, dispatched
    and not awaited: (state, handle, [metrics of each iteration, on the device])."""

    def dispatch(state: RunnerState, handle, hyper, num_iterations: int):
        metrics = []
        for _ in range(num_iterations):
            state, handle, traj, ended = collect(state, handle)
            state, iteration_metrics = update(state, traj, ended, hyper)
            metrics.append(iteration_metrics)
        return state, handle, metrics

    return dispatch


def make_programs(agent: Agent, env: Env, population: int, rollout_steps: int, networks: tuple[str, ...]) -> Programs:
    """`networks`: the agent state fields a non-finite update must not overwrite (the NaN guard)."""
    layout = Layout(population, env.num_envs // population, env.groups)
    init, start = starting(agent, env, layout)
    act, record = acting(agent, layout)
    rollout = collecting(env, act, record, layout, rollout_steps)
    learn = updating(agent, layout, rollout_steps, networks, env.spec)
    collect = jax.jit(rollout, donate_argnums=0)
    update = jax.jit(learn, donate_argnums=0)
    dispatch = fused_dispatcher(rollout, learn) if env.jax_native else stepped_dispatcher(collect, update)
    return Programs(init=init, start=start, collect=collect, update=update, dispatch=dispatch)
