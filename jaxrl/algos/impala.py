"""IMPALA: importance-weighted actor-learner (Espeholt et al., 2018, "IMPALA: scalable distributed
deep-RL with importance weighted actor-learner architectures", ICML).

Actors step envs with a copy of the parameters that may be older than the learner's (`lag`
versions: Cleanba's deterministic rule, see `jaxrl.training.actor_learner`) and record the
behaviour policy's log-probabilities mu(a_t|s_t). The learner corrects for the lag with V-trace
(`jaxrl.core.vtrace`, rho_bar = c_bar = 1, lambda = `vtrace_lambda`) and takes ONE gradient step
per unroll of T steps from E envs on A2C's loss with V-trace's targets and advantages:

    L(theta) = -E[log pi(a_t|s_t) rho_t (r_t + gamma v_{t+1} - V(s_t))]
               + c_v E[0.5 (v_t - V(s_t))^2] - c_e E[H(pi(.|s_t))]

(`jaxrl.core.losses.policy_gradient_loss`), gradients clipped to a global norm of
`max_grad_norm`, RMSProp as in the paper and Cleanba (PyTorch's form: eps outside the square
root). With `lag` 0 the actor acts with the learner's current parameters, rho = 1, and the
update is A2C's with GAE(lambda) returns: the synchronous loop runs it like any other algorithm.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl.algos.base import (
    DISCOUNT,
    NON_NEGATIVE,
    POSITIVE,
    UNIT,
    Algorithm,
    actor_devices_field,
    actor_threads_field,
    check_actor_threads,
    hyper,
    lag_field,
    learner_devices_field,
    static,
)
from jaxrl.core import distributions, optimizers
from jaxrl.core.actor_critic import AnnealedState, actor_critic_agent, annealed_step, policy_value
from jaxrl.core.losses import policy_gradient_loss
from jaxrl.core.returns import masked_mean
from jaxrl.core.types import Agent, EnvSpec, Trajectory, flatten_steps
from jaxrl.core.vtrace import vtrace

RMS_DECAY = 0.99  # the paper's and Cleanba's


@dataclasses.dataclass(frozen=True)
class Static:
    num_envs: int = static(16, "envs per member (all its actor threads together)")
    rollout_steps: int = static(20, "env steps per env in an unroll: one update each")
    lag: int = lag_field(1, "A2C's loop")
    actor_threads: int = actor_threads_field()
    actor_devices: tuple[int, ...] = actor_devices_field()
    learner_devices: tuple[int, ...] = learner_devices_field()
    anneal_lr: bool = static(False, "decay lr linearly to 0 over the run")
    hidden: tuple[int, ...] = static((64, 64), "MLP widths, for vector observations")


@struct.dataclass
class Hyper:
    lr: float = hyper(6e-4, "RMSProp's learning rate (its start, with anneal_lr)", POSITIVE)
    rms_eps: float = hyper(0.01, "RMSProp's epsilon, added to the root of the mean square", POSITIVE)
    gamma: float = hyper(0.99, "discount factor", DISCOUNT)
    vtrace_lambda: float = hyper(1.0, "V-trace's lambda: 1, n-step returns; below 1, their mix", UNIT)
    ent_coef: float = hyper(0.01, "weight of the entropy bonus", NON_NEGATIVE)
    vf_coef: float = hyper(0.5, "weight of the value loss (0.5 * MSE)", NON_NEGATIVE)
    max_grad_norm: float = hyper(40.0, "gradients are clipped to this global norm", POSITIVE)


AgentState = AnnealedState


def optimizer(hyper: Hyper, lr_scale=1.0):
    def rmsprop(lr):
        return optax.rmsprop(lr, decay=RMS_DECAY, eps=hyper.rms_eps, eps_in_sqrt=False)

    return optimizers.clipped(rmsprop, hyper.lr * lr_scale, hyper.max_grad_norm)


def build(static: Static, spec: EnvSpec, num_iterations: int) -> Agent:
    net = policy_value(spec, static.hidden, True, "none", 0)

    def init(key, hyper: Hyper) -> AgentState:
        params = net.init(key, spec)
        return AgentState(params, optimizer(hyper).init(params), jnp.zeros((), jnp.int32))

    def loss_fn(params, traj: Trajectory, hyper: Hyper):
        steps, envs = traj.action.shape
        logits, value = net.rollout(params, traj)
        logits, value = logits.reshape(steps, envs, -1), value.reshape(steps, envs)
        logits = distributions.masked_logits(logits, distributions.action_mask(traj.info))  # legal actions only
        last_value = net.last_value(params, traj)
        log_prob = distributions.log_prob(logits, traj.action)
        log_rho = log_prob - traj.extras["log_prob"]
        next_value = jnp.concatenate([value[1:], last_value[None]], axis=0)
        targets, advantages = vtrace(
            traj.reward,
            jax.lax.stop_gradient(value),
            jax.lax.stop_gradient(next_value),
            traj.terminated,
            traj.terminated | traj.truncated,
            log_rho,
            hyper.gamma,
            hyper.vtrace_lambda,
        )
        batch = flatten_steps({"returns": targets, "advantages": advantages, "mask": traj.valid})
        loss, metrics = policy_gradient_loss(
            log_prob.reshape(-1),
            distributions.entropy(logits).reshape(-1),
            value.reshape(-1),
            batch,
            hyper,
            baseline=True,
            norm_adv=False,
        )
        # how far the behaviour policy was from this one: 1 on-policy
        ratio = masked_mean(jnp.exp(jax.lax.stop_gradient(log_rho)), traj.valid)
        return loss, dict(metrics, importance_ratio=ratio)

    def learn(state: AgentState, traj: Trajectory, hyper: Hyper, key):
        tx = functools.partial(optimizer, hyper)
        return annealed_step(loss_fn, tx, state, static.anneal_lr, num_iterations, traj, hyper)

    return actor_critic_agent(net, init, learn, with_log_prob=True)


ALGORITHM = Algorithm(
    name="impala",
    summary="IMPALA: asynchronous actor-learner with V-trace (EnvPool; --lag 0: synchronous)",
    Static=Static,
    Hyper=Hyper,
    build=build,
    networks=("params", "opt_state"),
    check=check_actor_threads,
)
