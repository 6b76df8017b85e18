"""A2C: synchronous advantage actor-critic (Mnih et al., 2016, "Asynchronous methods for deep
reinforcement learning", ICML; the synchronous, batched variant of their A3C).

One network with a shared torso and two heads, the policy pi(a|s) and the value V(s). Each
iteration collects T steps (a few) from E envs and takes ONE gradient step on

    L(theta) = -E[log pi(a_t|s_t) A_t] + c_v E[0.5 (R_t - V(s_t))^2] - c_e E[H(pi(.|s_t))]

(c_v = `vf_coef`: Baselines' and SB3's vf_coef = 0.5 on a plain MSE is c_v = 1 here)

where R_t is the n-step return, bootstrapped from the value after the last step of the rollout:

    R_t = r_t + gamma r_{t+1} + ... + gamma^(n-1) r_{t+n-1} + gamma^n V(s_{t+n}),    A_t = R_t - V(s_t)

with n = T - t (the rollout end), or shorter where the episode ends first: no bootstrap after a
termination, V(s_{t+1}) after a truncation. This is GAE with lambda = 1 (`gae_lambda` < 1 gives
GAE's exponentially weighted mix of n-step returns). Gradients are clipped to a global norm of
`max_grad_norm`; the optimiser is RMSProp, as in the paper. The loss is REINFORCE's with the
baseline always on (`jaxrl.core.losses.policy_gradient_loss`). EnvPool's auto-reset steps are masked.

With `recurrent` gru or lstm a recurrent core sits on the torso (`jaxrl.core.actor_critic`): acting
threads its carry, reset where an episode starts, and the update replays the rollout from the
carry stored at its start.
"""

import dataclasses
import functools

import jax.numpy as jnp
import optax
from flax import struct

from jaxrl.algos.base import (
    DISCOUNT,
    NON_NEGATIVE,
    POSITIVE,
    RECURRENT_HELP,
    RECURRENT_SIZE_HELP,
    UNIT,
    Algorithm,
    hyper,
    static,
)
from jaxrl.core import distributions, optimizers
from jaxrl.core.actor_critic import AnnealedState, actor_critic_agent, annealed_step, policy_value
from jaxrl.core.losses import policy_gradient_loss
from jaxrl.core.recurrent import DEFAULT_SIZE, check_recurrent
from jaxrl.core.returns import gae, next_values
from jaxrl.core.types import Agent, EnvSpec, Trajectory, flatten_steps

# RMSProp's decay as in the paper; eps 1e-5 (inside the square root) as in OpenAI Baselines' A2C.
# Its average of squared gradients starts at 0 (optax's and PyTorch's default); Baselines' TF
# RMSProp starts it at 1, which took CartPole ~90k steps to 475 instead of ~53k (seeds 0-2).
RMS_DECAY = 0.99
RMS_EPS = 1e-5


@dataclasses.dataclass(frozen=True)
class Static:
    num_envs: int = static(8, "envs per member")
    rollout_steps: int = static(5, "env steps per env between updates: the n of the n-step return")
    anneal_lr: bool = static(False, "decay lr linearly to 0 over the run")
    norm_adv: bool = static(False, "normalise advantages over each rollout")
    hidden: tuple[int, ...] = static((64, 64), "MLP widths, for vector observations")
    recurrent: str = static("none", RECURRENT_HELP)
    recurrent_size: int = static(DEFAULT_SIZE, RECURRENT_SIZE_HELP)


@struct.dataclass
class Hyper:
    lr: float = hyper(2e-3, "RMSProp's learning rate (its start, with anneal_lr)", POSITIVE)
    gamma: float = hyper(0.98, "discount factor", DISCOUNT)
    gae_lambda: float = hyper(1.0, "1: n-step returns; below 1, GAE's mix of them", UNIT)
    ent_coef: float = hyper(0.0, "weight of the entropy bonus", NON_NEGATIVE)
    vf_coef: float = hyper(0.5, "weight of the value loss (0.5 * MSE)", NON_NEGATIVE)
    max_grad_norm: float = hyper(0.5, "gradients are clipped to this global norm", POSITIVE)


AgentState = AnnealedState


def check(static: Static) -> None:
    check_recurrent(static)
    if static.norm_adv and static.num_envs * static.rollout_steps < 2:
        raise ValueError("a batch of 1 step cannot normalise advantages; use more steps or --norm-adv False")


def build(static: Static, spec: EnvSpec, num_iterations: int) -> Agent:
    net = policy_value(spec, static.hidden, True, static.recurrent, static.recurrent_size)

    def optimizer(hyper: Hyper, lr_scale=1.0):
        return optimizers.clipped(
            lambda lr: optax.rmsprop(lr, decay=RMS_DECAY, eps=RMS_EPS), hyper.lr * lr_scale, hyper.max_grad_norm
        )

    def init(key, hyper: Hyper) -> AgentState:
        params = net.init(key, spec)
        return AgentState(params, optimizer(hyper).init(params), jnp.zeros((), jnp.int32))

    def loss_fn(params, batch, traj: Trajectory, hyper):
        logits, value = net.rollout(params, traj)  # [T*E, A], [T*E]
        logits = distributions.masked_logits(logits, batch.get("action_mask"))  # over the legal actions
        log_prob, entropy = distributions.log_prob(logits, batch["action"]), distributions.entropy(logits)
        return policy_gradient_loss(log_prob, entropy, value, batch, hyper, baseline=True, norm_adv=static.norm_adv)

    def learn(state: AgentState, traj: Trajectory, hyper: Hyper, key):
        value = traj.extras["value"]  # V(s_t) [T, E], from these same params (one update per rollout)
        last_value = net.last_value(state.params, traj)
        done = traj.terminated | traj.truncated
        advantages, returns = gae(
            traj.reward, value, next_values(value, last_value), traj.terminated, done, hyper.gamma, hyper.gae_lambda
        )
        batch = {"action": traj.action, "returns": returns, "advantages": advantages, "mask": traj.valid}
        batch = distributions.with_action_mask(flatten_steps(batch), traj)
        return annealed_step(
            loss_fn, functools.partial(optimizer, hyper), state, static.anneal_lr, num_iterations, batch, traj, hyper
        )

    return actor_critic_agent(net, init, learn)


ALGORITHM = Algorithm(
    name="a2c",
    summary="A2C: synchronous advantage actor-critic with n-step returns and RMSProp",
    Static=Static,
    Hyper=Hyper,
    build=build,
    networks=("params", "opt_state"),
    check=check,
)
