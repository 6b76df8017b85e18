"""Deep Q-Networks (Mnih et al., 2015) and Double DQN (van Hasselt et al., 2016).

Acting is epsilon-greedy on Q(s, .; theta), epsilon falling linearly from `start_e` to `end_e`
over the first `exploration_fraction` of the env steps. Every rollout goes into a replay buffer,
and for every `train_every` env steps past `learning_starts` one gradient step on a uniform
minibatch minimises

    L(theta) = E[ l(Q(s_t, a_t; theta) - y_t) ]        l: Huber (delta 1) or the squared error
    y_t      = r_t + gamma (1 - terminated_t) Q(s_{t+1}, a*; theta^-)
    a*       = argmax_a Q(s_{t+1}, a; theta^-)   (DQN)      argmax_a Q(s_{t+1}, a; theta)   (Double DQN)

The target parameters follow theta^- <- tau theta + (1 - tau) theta^- every `target_update_every`
env steps (tau = 1: a hard copy). A truncated episode bootstraps from its last observation, a
terminated one does not; EnvPool's reset steps never enter a minibatch (see `jaxrl.buffers`).
"""

import dataclasses
import functools
from typing import Literal

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.core.scope import VariableDict

from jaxrl.algos.base import DISCOUNT, POSITIVE, UNIT, Algorithm, check_replay_schedule, hyper, static
from jaxrl.core import buffers, optimizers
from jaxrl.core.distributions import action_mask, masked_logits
from jaxrl.core.exploration import epsilon_at, epsilon_greedy
from jaxrl.core.networks import QNetwork, unroll_gradient_loops
from jaxrl.core.types import Agent, EnvSpec, Trajectory

LOSSES = ("huber", "mse")


@dataclasses.dataclass(frozen=True)
class Static:
    num_envs: int = static(1, "envs per member")
    rollout_steps: int = static(10, "env steps per env between learn calls")
    buffer_size: int = static(10_000, "replay capacity in transitions, all of a member's envs together")
    batch_size: int = static(128, "transitions per gradient step")
    train_every: int = static(10, "env steps (all envs together) per gradient step")
    target_update_every: int = static(500, "env steps between target network updates")
    learning_starts: int = static(10_000, "transitions in the replay before the first gradient step", minimum=0)
    double_q: bool = static(False, "Double DQN: the online network picks the next action")
    loss: Literal["huber", "mse"] = static("mse", "TD error loss: huber (delta 1) or mse")
    hidden: tuple[int, ...] = static((120, 84), "MLP widths, for vector observations")


@dataclasses.dataclass(frozen=True)
class DoubleStatic(Static):
    double_q: bool = static(True, "Double DQN: the online network picks the next action")


@struct.dataclass
class Hyper:
    lr: float = hyper(2.5e-4, "Adam's learning rate", POSITIVE)
    gamma: float = hyper(0.99, "discount factor", DISCOUNT)
    tau: float = hyper(1.0, "target update rate: 1 copies the online network", DISCOUNT)
    start_e: float = hyper(1.0, "epsilon at the start", UNIT)
    end_e: float = hyper(0.05, "epsilon after exploration_fraction of the run", UNIT)
    exploration_fraction: float = hyper(0.5, "fraction of the run's env steps over which epsilon falls to end_e", UNIT)


class AgentState(struct.PyTreeNode):
    params: VariableDict
    target_params: VariableDict
    opt_state: optax.OptState
    replay: buffers.Replay
    env_steps: jax.Array  # int32: env steps this member has taken (all its envs); advanced by learn
    epsilon: jax.Array  # float32: the exploration rate `act` uses, epsilon(env_steps)


def check(static: Static) -> None:
    check_replay_schedule(static, replay_capacity(static))
    if static.loss not in LOSSES:
        raise ValueError(f"unknown loss '{static.loss}': choose one of {', '.join(LOSSES)}")


def replay_capacity(static: Static) -> int:
    return buffers.slots_per_env(static.buffer_size, static.num_envs)


def replay_bytes(static: Static, spec: EnvSpec) -> int:
    """Bytes of one member's replay buffer for this config, without allocating it."""
    return buffers.estimate_bytes(
        replay_capacity(static),
        static.num_envs,
        spec.obs_shape,
        spec.obs_dtype,
        buffers.frame_stack(spec),
        masked_actions=buffers.masked_actions(spec),
    )


def td_target(reward, terminated, next_q_target, next_q_online, gamma, double_q: bool):
    """y = r + gamma (1 - terminated) Q_target(s', a*): reward, terminated [B]; next q values [B, A].

    a* is the target network's greedy action (DQN) or the online network's (Double DQN).
    Truncation is not an argument on purpose: a truncated step bootstraps like any other.
    """
    best = jnp.argmax(next_q_online if double_q else next_q_target, axis=-1)
    next_value = jnp.take_along_axis(next_q_target, best[:, None], axis=-1)[:, 0]
    return reward + gamma * (1.0 - terminated.astype(jnp.float32)) * next_value


def q_loss(q_taken, target, mask, loss: str):
    """Mean of l(Q(s, a) - y) over the unmasked samples; [B] inputs."""
    if loss == "huber":
        errors = optax.huber_loss(q_taken, target, delta=1.0)
    else:
        errors = (q_taken - target) ** 2
    mask = mask.astype(jnp.float32)
    return jnp.sum(errors * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def optimizer(hyper: Hyper):
    return optimizers.injected(optax.adam, learning_rate=hyper.lr)


def td_loss(network: QNetwork, static: Static, params, target_params, batch: buffers.Batch, hyper: Hyper):
    """L(theta) on one minibatch, and the mean Q(s, a) it was computed from."""
    q = network.apply(params, batch.obs)
    q_taken = jnp.take_along_axis(q, batch.action[:, None], axis=-1)[:, 0]
    # the bootstrap's max (or argmax) over the next obs's legal actions
    next_q_target = masked_logits(network.apply(target_params, batch.next_obs), batch.next_action_mask)
    next_q_online = (
        masked_logits(network.apply(params, batch.next_obs), batch.next_action_mask)
        if static.double_q
        else next_q_target
    )
    target = jax.lax.stop_gradient(
        td_target(batch.reward, batch.terminated, next_q_target, next_q_online, hyper.gamma, static.double_q)
    )
    return q_loss(q_taken, target, batch.mask, static.loss), jnp.mean(q_taken)


def gradient_step(network: QNetwork, static: Static, hyper: Hyper, replay: buffers.Replay, carry, inputs):
    """lax.scan's body: one minibatch step on L(theta), then theta^-'s update when it is due.
    carry: (params, target_params, opt_state); outputs: (loss, mean Q, trained), zero while untrained."""
    params, target_params, opt_state = carry
    env_step, stored, sample_key = inputs  # this update's env step; steps in the replay by then
    # Learning waits for `learning_starts` stored steps rather than env steps: the same on
    # a fresh run, and a run resumed without its replay refills it before learning again.
    trained = stored > static.learning_starts
    # Computed always and kept only once learning has started, rather than skipped with a
    # lax.cond: XLA:CPU runs convolutions inside a conditional (or a loop, hence `unroll`)
    # several times slower, and under vmap a cond computes both branches anyway.
    batch = buffers.sample(replay, sample_key, static.batch_size)
    (loss, q_mean), grads = jax.value_and_grad(td_loss, argnums=2, has_aux=True)(
        network, static, params, target_params, batch, hyper
    )
    updates, new_opt_state = optimizer(hyper).update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    params, opt_state = jax.tree.map(
        lambda new, old: jnp.where(trained, new, old), (new_params, new_opt_state), (params, opt_state)
    )
    due = trained & buffers.crossed(env_step, static.target_update_every, static.train_every)
    target_params = jax.lax.cond(
        due, lambda: optax.incremental_update(params, target_params, hyper.tau), lambda: target_params
    )
    return (params, target_params, opt_state), (jnp.where(trained, loss, 0.0), jnp.where(trained, q_mean, 0.0), trained)


def build(static: Static, spec: EnvSpec, num_iterations: int) -> Agent:
    network = QNetwork(spec.num_actions, spec.obs_shape, static.hidden)
    steps_per_rollout = static.num_envs * static.rollout_steps
    total_steps = num_iterations * steps_per_rollout
    updates_per_rollout = steps_per_rollout // static.train_every
    stack = buffers.frame_stack(spec)

    def init(key, hyper: Hyper) -> AgentState:
        params = network.init(key, jnp.zeros((1, *spec.obs_shape), spec.obs_dtype))
        env_steps = jnp.zeros((), jnp.int32)
        return AgentState(
            params=params,
            target_params=jax.tree.map(jnp.copy, params),
            opt_state=optimizer(hyper).init(params),
            replay=buffers.init(
                replay_capacity(static),
                static.num_envs,
                spec.obs_shape,
                spec.obs_dtype,
                stack,
                masked_actions=buffers.masked_actions(spec),
            ),
            env_steps=env_steps,
            epsilon=jnp.asarray(epsilon_at(env_steps, hyper, total_steps), jnp.float32),
        )

    def act(state: AgentState, obs, key, info=()):
        return epsilon_greedy(key, network.apply(state.params, obs), state.epsilon, action_mask(info)), {}

    def learn(state: AgentState, traj: Trajectory, hyper: Hyper, key):
        replay = buffers.add_trajectory(state.replay, traj)
        update_steps, stored_steps = buffers.update_schedule(
            state.replay, state.env_steps, static.num_envs, static.train_every, updates_per_rollout
        )
        (params, target_params, opt_state), (loss, q_mean, trained) = jax.lax.scan(
            functools.partial(gradient_step, network, static, hyper, replay),
            (state.params, state.target_params, state.opt_state),
            (update_steps, stored_steps, jax.random.split(key, updates_per_rollout)),
            unroll=unroll_gradient_loops(spec.obs_shape),  # see gradient_step
        )
        env_steps = state.env_steps + steps_per_rollout
        count = jnp.maximum(jnp.sum(trained), 1)
        metrics = {
            "td_loss": jnp.sum(loss) / count,
            "q_values": jnp.sum(q_mean) / count,
            "epsilon": state.epsilon,
        }
        state = AgentState(
            params=params,
            target_params=target_params,
            opt_state=opt_state,
            replay=replay,
            env_steps=env_steps,
            epsilon=jnp.asarray(epsilon_at(env_steps, hyper, total_steps), jnp.float32),
        )
        return state, metrics

    def preferences(state: AgentState, obs):
        return network.apply(state.params, obs)

    return Agent(init, act, learn, preferences, lambda state, obs: {"q_values": preferences(state, obs)})


NETWORKS = ("params", "target_params", "opt_state")

ALGORITHM = Algorithm(
    name="dqn",
    summary="DQN: epsilon-greedy Q-learning from a replay buffer with a target network",
    Static=Static,
    Hyper=Hyper,
    build=build,
    networks=NETWORKS,
    replay="replay",
    check=check,
)

DOUBLE_DQN = ALGORITHM._replace(
    name="ddqn",
    summary="Double DQN: DQN whose online network picks the action the target network evaluates",
    Static=DoubleStatic,
)
