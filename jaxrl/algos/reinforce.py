"""REINFORCE: Monte Carlo policy gradient with reward-to-go (Williams, 1992, "Simple statistical
gradient-following algorithms for connectionist reinforcement learning", Machine Learning 8).

The policy-gradient theorem gives the gradient of J(theta) = E[sum_t gamma^t r_t] as

    grad J = E[ sum_t grad log pi(a_t|s_t) (G_t - b(s_t)) ]       G_t = sum_{k>=t} gamma^(k-t) r_k

where G_t, the reward-to-go, sums only the rewards after a_t (earlier ones do not depend on it) and
any baseline b(s_t) leaves the estimate unbiased (the gamma^t weight of later steps is dropped, as is
usual: gamma only discounts the rewards inside G_t). With `baseline` on, b = V(s_t) is a learned state
value fitted to G_t (Sutton & Barto, 2018, sec. 13.4); off, b = 0. Each iteration takes one gradient
step on

    L(theta) = -E[log pi(a_t|s_t) A_t] + c_v E[0.5 (G_t - V(s_t))^2] - c_e E[H(pi(.|s_t))]
    A_t = G_t - V(s_t)   (baseline)   or   A_t = G_t   (no baseline)

with A_t optionally normalised over the batch (`norm_adv`).

Whole episodes from fixed-length rollouts: G_t is summed inside the rollout of T steps. A step
whose episode has not ended by the rollout end has an incomplete G_t; those steps are MASKED out of
the loss, never bootstrapped (bootstrapping from V would make this an actor-critic, and without a
baseline there is nothing to bootstrap from). The steps of an episode that began in an earlier
rollout and ends in this one have complete returns and are kept. So each env loses the steps after
its last episode end in each rollout, and the kept ones lean towards episodes that end soon: make
rollouts at least an episode long (CartPole: 512 steps, episodes of at most 500). A time-limit
truncation ends the episode, its return bootstrapped from V(s_{t+1}) with a baseline and from 0
without one. EnvPool's auto-reset steps are masked as well.

With `recurrent` gru or lstm a recurrent core sits on one torso for policy and baseline
(`jaxrl.core.actor_critic`): acting threads its carry, reset where an episode starts, and the
update replays the rollout from the carry stored at its start.
"""

import dataclasses

import jax.numpy as jnp
import optax
from flax import struct
from flax.core.scope import VariableDict

from jaxrl.algos.base import (
    DISCOUNT,
    NON_NEGATIVE,
    POSITIVE,
    RECURRENT_HELP,
    RECURRENT_SIZE_HELP,
    Algorithm,
    hyper,
    static,
)
from jaxrl.core import distributions, optimizers
from jaxrl.core.actor_critic import actor_critic_agent, gradient_step, policy_value
from jaxrl.core.losses import policy_gradient_loss
from jaxrl.core.recurrent import DEFAULT_SIZE, check_recurrent
from jaxrl.core.returns import episode_ends_in_rollout, next_values, reward_to_go
from jaxrl.core.types import Agent, EnvSpec, Trajectory, flatten_steps


@dataclasses.dataclass(frozen=True)
class Static:
    num_envs: int = static(4, "envs per member")
    rollout_steps: int = static(
        512,
        "env steps per env between updates; at least an episode (the steps of an episode cut at the end are masked)",
    )
    baseline: bool = static(False, "learn V(s) and use A_t = G_t - V(s_t)")
    norm_adv: bool = static(True, "normalise A_t over the batch's complete steps")
    shared_torso: bool = static(False, "policy and baseline on one torso (Atari)")
    hidden: tuple[int, ...] = static((64, 64), "MLP widths, for vector observations")
    recurrent: str = static("none", RECURRENT_HELP)
    recurrent_size: int = static(DEFAULT_SIZE, RECURRENT_SIZE_HELP)


@struct.dataclass
class Hyper:
    lr: float = hyper(2e-3, "Adam's learning rate", POSITIVE)
    gamma: float = hyper(0.99, "discount factor", DISCOUNT)
    ent_coef: float = hyper(0.0, "weight of the entropy bonus", NON_NEGATIVE)
    vf_coef: float = hyper(0.5, "weight of the baseline's loss (with --baseline True)", NON_NEGATIVE)
    max_grad_norm: float = hyper(100.0, "gradients are clipped to this global norm: a guard against spikes", POSITIVE)


class AgentState(struct.PyTreeNode):
    params: VariableDict
    opt_state: optax.OptState


def check(static: Static) -> None:
    check_recurrent(static)
    if static.norm_adv and static.num_envs * static.rollout_steps < 2:
        raise ValueError("a batch of 1 step cannot normalise advantages; use more steps or --norm-adv False")


def build(static: Static, spec: EnvSpec, num_iterations: int) -> Agent:
    net = policy_value(spec, static.hidden, static.shared_torso, static.recurrent, static.recurrent_size)

    def optimizer(hyper: Hyper):
        return optimizers.clipped(optax.adam, hyper.lr, hyper.max_grad_norm)

    def init(key, hyper: Hyper) -> AgentState:
        params = net.init(key, spec)
        return AgentState(params, optimizer(hyper).init(params))

    def loss_fn(params, batch, traj: Trajectory, hyper):
        logits, value = net.rollout(params, traj)  # [T*E, A], [T*E]
        logits = distributions.masked_logits(logits, batch.get("action_mask"))  # over the legal actions
        log_prob, entropy = distributions.log_prob(logits, batch["action"]), distributions.entropy(logits)
        return policy_gradient_loss(log_prob, entropy, value, batch, hyper, static.baseline, static.norm_adv)

    def learn(state: AgentState, traj: Trajectory, hyper: Hyper, key):
        done = traj.terminated | traj.truncated
        if static.baseline:
            # act used these same params (one update per rollout), so its values are V(s_t) now
            value = traj.extras["value"]
            next_value = next_values(value, net.last_value(state.params, traj))  # read only where truncated
        else:
            value = next_value = jnp.zeros_like(traj.reward)
        returns = reward_to_go(traj.reward, next_value, traj.terminated, done, hyper.gamma)  # G_t [T, E]
        batch = {
            "action": traj.action,
            "returns": returns,
            "advantages": returns - value,
            "mask": traj.valid & episode_ends_in_rollout(done),  # complete G_t, real transitions only
        }
        batch = distributions.with_action_mask(flatten_steps(batch), traj)
        params, opt_state, metrics = gradient_step(
            loss_fn, optimizer(hyper), state.params, state.opt_state, batch, traj, hyper
        )
        return AgentState(params, opt_state), metrics

    return actor_critic_agent(net, init, learn, value_output=static.baseline)


ALGORITHM = Algorithm(
    name="reinforce",
    summary="REINFORCE: Monte Carlo policy gradient with reward-to-go and an optional learned baseline",
    Static=Static,
    Hyper=Hyper,
    build=build,
    networks=("params", "opt_state"),
    check=check,
)
