"""What the categorical actor-critic learners with one gradient step per rollout share (A2C,
REINFORCE, IMPALA): their network, feed-forward or with a recurrent core (`recurrent` gru or
lstm, `jaxrl.core.recurrent`), acting, the greedy policy and what an export gives, and the
(annealed) gradient step. Each algorithm keeps only its targets and its loss.

A recurrent learner replays the whole rollout [T, E] from the carry stored at its start (one
step per rollout: no minibatches to cut), so the values and log-probs it learns from are the
ones it acted on; the flat outputs [T*E, ...] then enter the same loss as a feed-forward one's.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.core.scope import VariableDict

from jaxrl.core import distributions, optimizers
from jaxrl.core.networks import ActorCritic, Network
from jaxrl.core.recurrent import DEFAULT_SIZE, RecurrentActorCritic, initial_carry, last_outputs, one_step
from jaxrl.core.types import Agent, EnvSpec, Trajectory, flatten_steps


class AnnealedState(struct.PyTreeNode):
    """The learning state of A2C and IMPALA."""

    params: VariableDict
    opt_state: optax.OptState
    iteration: jax.Array  # int32, learn calls so far (drives lr annealing)


@dataclasses.dataclass(frozen=True)
class PolicyValue:
    """A network of (logits, value): `ActorCritic`, or with `kind` gru/lstm a
    `RecurrentActorCritic` (one torso for both heads, as PureJaxRL's PPO-RNN has it)."""

    network: Network
    kind: str = "none"
    size: int = DEFAULT_SIZE

    @property
    def recurrent(self) -> bool:
        return self.kind != "none"

    def start(self, num_envs: int) -> Any:
        """The carry of `num_envs` envs at an episode's start."""
        return initial_carry(num_envs, self.size, self.kind)

    def init(self, key: jax.Array, spec: EnvSpec) -> VariableDict:
        dummy_obs = jnp.zeros((1, *spec.obs_shape), spec.obs_dtype)
        if self.recurrent:  # a sequence of one step of one env
            return self.network.init(key, self.start(1), dummy_obs[None], jnp.ones((1, 1), bool))
        return self.network.init(key, dummy_obs)

    def rollout(self, params: VariableDict, traj: Trajectory) -> tuple[jax.Array, jax.Array]:
        """(logits [T*E, A], value [T*E]) of every step of the rollout, in flatten_steps' order:
        a recurrent network replays it from its carry at the rollout's start."""
        if not self.recurrent:
            return self.network.apply(params, flatten_steps(traj.obs))
        _, outputs = self.network.apply(params, traj.carry, traj.obs, traj.first)
        return flatten_steps(outputs)

    def last_value(self, params: VariableDict, traj: Trajectory) -> jax.Array:
        """V(last_obs) [E], the bootstrap after the rollout's last step."""
        if self.recurrent:
            return last_outputs(self.network, params, traj, traj.obs, traj.last_obs)[1]
        return self.network.apply(params, traj.last_obs)[1]


def policy_value(spec: EnvSpec, hidden: tuple[int, ...], shared: bool, kind: str, size: int) -> PolicyValue:
    """The network of an actor-critic Static's settings (a recurrent one always shares its torso)."""
    if kind == "none":
        return PolicyValue(ActorCritic(spec.num_actions, spec.obs_shape, hidden, shared))
    return PolicyValue(RecurrentActorCritic(spec.num_actions, spec.obs_shape, hidden, kind, size), kind, size)


def sampled(logits, value, info, key, with_log_prob: bool):
    """(an action of the legal actions' categorical, extras: the value, and `with_log_prob` the
    action's log-prob, the behaviour policy's for an off-policy correction)."""
    logits = distributions.masked_logits(logits, distributions.action_mask(info))
    action = jax.random.categorical(key, logits)
    extras = {"value": value}
    if with_log_prob:
        extras["log_prob"] = distributions.log_prob(logits, action)
    return action, extras


def recurrent_parts(net: PolicyValue, with_log_prob: bool):
    """A recurrent actor-critic's (act, preferences), the carry threaded as `Agent` has it."""

    def act(state, carry, obs, first, info, key):
        carry, (logits, value) = one_step(net.network, state.params, carry, obs, first)
        action, extras = sampled(logits, value, info, key, with_log_prob)
        return action, carry, extras

    def preferences(state, carry, obs, first):
        carry, (logits, _) = one_step(net.network, state.params, carry, obs, first)
        return logits, carry

    return act, preferences


def actor_critic_agent(
    net: PolicyValue,
    init: Callable,
    learn: Callable,
    with_log_prob: bool = False,
    value_output: bool = True,
) -> Agent:
    """The Agent of an actor-critic: acting samples the legal actions' categorical (`sampled`);
    the greedy policy is the logits; an export gives the logits and, `value_output`, the value.
    A recurrent one threads its carry."""
    if net.recurrent:
        act_recurrent, preferences_recurrent = recurrent_parts(net, with_log_prob)
        return Agent(init, act_recurrent, learn, preferences_recurrent, initial_carry=net.start)

    def act(state, obs, key, info=()):
        logits, value = net.network.apply(state.params, obs)
        return sampled(logits, value, info, key, with_log_prob)

    def preferences(state, obs):
        return net.network.apply(state.params, obs)[0]

    def outputs(state, obs):
        logits, value = net.network.apply(state.params, obs)
        return {"logits": logits, "value": value} if value_output else {"logits": logits}

    return Agent(init, act, learn, preferences, outputs)


def gradient_step(loss_fn: Callable, tx: optax.GradientTransformation, params, opt_state, *args):
    """One step of `tx` on the gradient of loss_fn(params, *args) -> (loss, metrics):
    (params, opt_state, metrics)."""
    grads, metrics = jax.grad(loss_fn, has_aux=True)(params, *args)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, metrics


def annealed_step(
    loss_fn: Callable, optimizer: Callable, state: AnnealedState, anneal: bool, num_iterations: int, *args
) -> tuple[AnnealedState, dict]:
    """`gradient_step` with optimizer(lr_scale), the learning rate decayed linearly to 0 over
    `num_iterations` learn calls where `anneal`: (state one iteration on, metrics)."""
    lr_scale = optimizers.linear_decay(state.iteration, num_iterations) if anneal else 1.0
    params, opt_state, metrics = gradient_step(loss_fn, optimizer(lr_scale), state.params, state.opt_state, *args)
    return AnnealedState(params, opt_state, state.iteration + 1), metrics
