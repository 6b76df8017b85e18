"""PQN: Q(lambda) on many parallel envs, LayerNorm, no replay and no target network (Gallici et
al., ICLR 2025, "Simplifying Deep Temporal Difference Learning").

Acting is epsilon-greedy on Q(s, .; theta) in E envs for T steps, epsilon falling linearly from
`start_e` to `end_e` over the first `exploration_fraction` of the env steps. From each rollout,
Q(lambda) returns are computed backwards from its end, bootstrapping from the network itself:

    G_t = c r_t + gamma (1 - terminated_t) [M_{t+1} + lambda (1 - done_t) (G_{t+1} - M_{t+1})]
    M_t = max_a Q(s_t, a; theta),   G_T = M_T (the observation after the rollout)

with c = `reward_scale` and done = terminated or truncated: a truncated step bootstraps from its
last observation, and no return flows back across an episode boundary, so EnvPool's reset step
(the step after a done, whose action is ignored) never reaches the episode before it. Then
`update_epochs` passes over the T*E steps in `num_minibatches` shuffled minibatches take one RAdam
step each (gradients clipped to `max_grad_norm`, lr decaying linearly to 0 with `anneal_lr`) on

    L(theta) = E_t[ 0.5 (Q(s_t, a_t; theta) - G_t)^2 ]       (G_t held fixed; reset steps left out)

LayerNorm after every hidden layer is what keeps this regression on its own bootstrap stable
without a target network; many envs instead of a replay decorrelate the samples.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.core.scope import VariableDict

from jaxrl.algos.base import DISCOUNT, POSITIVE, UNIT, Algorithm, hyper, static
from jaxrl.core import optimizers
from jaxrl.core.distributions import action_mask, masked_logits
from jaxrl.core.exploration import epsilon_at, epsilon_greedy
from jaxrl.core.minibatches import minibatch_epochs
from jaxrl.core.networks import QNetwork, unroll_gradient_loops
from jaxrl.core.returns import lambda_returns, masked_mean, next_values
from jaxrl.core.types import Agent, EnvSpec, Trajectory, flatten_steps


@dataclasses.dataclass(frozen=True)
class Static:
    num_envs: int = static(32, "envs per member (E)")
    rollout_steps: int = static(64, "env steps per env between updates (T)")
    num_minibatches: int = static(16, "minibatches per epoch; must divide num_envs * rollout_steps")
    update_epochs: int = static(4, "passes over each rollout")
    anneal_lr: bool = static(True, "decay lr linearly to 0 over the run")
    layer_norm: bool = static(True, "LayerNorm after every hidden layer (False: the paper's ablation)")
    hidden: tuple[int, ...] = static((256, 256), "MLP widths, for vector observations")


@struct.dataclass
class Hyper:
    lr: float = hyper(1e-4, "RAdam's learning rate (its start, with anneal_lr)", POSITIVE)
    gamma: float = hyper(0.99, "discount factor", DISCOUNT)
    q_lambda: float = hyper(0.95, "lambda of the Q(lambda) returns: 0 is one-step Q-learning, 1 Monte Carlo", UNIT)
    reward_scale: float = hyper(1.0, "training rewards are multiplied by this before the returns", POSITIVE)
    max_grad_norm: float = hyper(10.0, "gradients are clipped to this global norm", POSITIVE)
    start_e: float = hyper(1.0, "epsilon at the start", UNIT)
    end_e: float = hyper(0.05, "epsilon after exploration_fraction of the run", UNIT)
    exploration_fraction: float = hyper(0.1, "fraction of the run's env steps over which epsilon falls to end_e", UNIT)


class AgentState(struct.PyTreeNode):
    params: VariableDict
    opt_state: optax.OptState
    iteration: jax.Array  # int32, learn calls so far: drives the lr and epsilon schedules
    epsilon: jax.Array  # float32: the exploration rate `act` uses, epsilon(env steps so far)


def check(static: Static) -> None:
    batch = static.num_envs * static.rollout_steps
    if batch % static.num_minibatches:
        raise ValueError(
            f"num_envs * rollout_steps = {batch} is not divisible by num_minibatches = {static.num_minibatches}"
        )


def q_lambda_loss(q_values, batch: dict):
    """0.5 E[(Q(s, a) - G)^2] over the valid steps: q_values [B, A]; batch: action, returns, valid [B]."""
    q_taken = jnp.take_along_axis(q_values, batch["action"][:, None], axis=-1)[:, 0]
    loss = 0.5 * masked_mean((q_taken - batch["returns"]) ** 2, batch["valid"])
    return loss, {"td_loss": loss, "q_values": masked_mean(q_taken, batch["valid"])}


def build(static: Static, spec: EnvSpec, num_iterations: int) -> Agent:
    network = QNetwork(spec.num_actions, spec.obs_shape, static.hidden, static.layer_norm)
    steps_per_rollout = static.num_envs * static.rollout_steps
    total_steps = num_iterations * steps_per_rollout

    def optimizer(hyper: Hyper, lr_scale=1.0):
        return optimizers.clipped(optax.radam, hyper.lr * lr_scale, hyper.max_grad_norm)

    def epsilon(iteration, hyper: Hyper):
        return jnp.asarray(epsilon_at(iteration * steps_per_rollout, hyper, total_steps), jnp.float32)

    def init(key, hyper: Hyper) -> AgentState:
        params = network.init(key, jnp.zeros((1, *spec.obs_shape), spec.obs_dtype))
        iteration = jnp.zeros((), jnp.int32)
        return AgentState(params, optimizer(hyper).init(params), iteration, epsilon(iteration, hyper))

    def act(state: AgentState, obs, key, info=()):
        q_values = network.apply(state.params, obs)
        mask = action_mask(info)
        # M_t for the returns, over the legal actions: the parameters do not change before `learn`,
        # which reuses it
        q_max = jnp.max(masked_logits(q_values, mask), axis=-1)
        return epsilon_greedy(key, q_values, state.epsilon, mask), {"q_max": q_max}

    def learn(state: AgentState, traj: Trajectory, hyper: Hyper, key):
        last_q = masked_logits(network.apply(state.params, traj.last_obs), action_mask(traj.last_info))
        last_q_max = jnp.max(last_q, axis=-1)  # [E], over the last obs's legal actions
        returns = lambda_returns(
            hyper.reward_scale * traj.reward,
            next_values(traj.extras["q_max"], last_q_max),
            traj.terminated,
            traj.terminated | traj.truncated,
            hyper.gamma,
            hyper.q_lambda,
        )  # [T, E]
        batch = flatten_steps({"obs": traj.obs, "action": traj.action, "returns": returns, "valid": traj.valid})

        lr_scale = optimizers.linear_decay(state.iteration, num_iterations) if static.anneal_lr else 1.0
        (params, opt_state), metrics = minibatch_epochs(
            lambda params, minibatch: q_lambda_loss(network.apply(params, minibatch["obs"]), minibatch),
            optimizer(hyper, lr_scale),
            state.params,
            state.opt_state,
            batch,
            key,
            static.update_epochs,
            static.num_minibatches,
            unroll_gradient_loops(spec.obs_shape),
        )
        iteration = state.iteration + 1
        metrics = {**jax.tree.map(jnp.mean, metrics), "epsilon": state.epsilon}
        return AgentState(params, opt_state, iteration, epsilon(iteration, hyper)), metrics

    def preferences(state: AgentState, obs):
        return network.apply(state.params, obs)

    return Agent(init, act, learn, preferences, lambda state, obs: {"q_values": preferences(state, obs)})


ALGORITHM = Algorithm(
    name="pqn",
    summary="PQN: epsilon-greedy Q(lambda) on parallel envs with LayerNorm, no replay, no target network",
    Static=Static,
    Hyper=Hyper,
    build=build,
    networks=("params", "opt_state"),
    check=check,
)
