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

With `recurrent` "gru" or "lstm" (the paper's PQN-RNN) a recurrent core sits on the torso, its
carry threaded through acting and reset where an episode starts; minibatches are cut along the
env axis only, each whole sequence replayed from the carry stored at the rollout's start.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.core.scope import VariableDict

from jaxrl.algos.base import DISCOUNT, POSITIVE, RECURRENT_HELP, RECURRENT_SIZE_HELP, UNIT, Algorithm, hyper, static
from jaxrl.core import optimizers
from jaxrl.core.distributions import action_mask, masked_logits
from jaxrl.core.exploration import epsilon_at, epsilon_greedy
from jaxrl.core.minibatches import env_minibatches, minibatch_epochs
from jaxrl.core.networks import Network, QNetwork, unroll_gradient_loops
from jaxrl.core.recurrent import DEFAULT_SIZE, RecurrentQNetwork, check_recurrent, initial_carry, last_outputs, one_step
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
    recurrent: str = static("none", RECURRENT_HELP)
    recurrent_size: int = static(DEFAULT_SIZE, RECURRENT_SIZE_HELP)


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
    check_recurrent(static)
    batch = static.num_envs * static.rollout_steps
    if batch % static.num_minibatches:
        raise ValueError(
            f"num_envs * rollout_steps = {batch} is not divisible by num_minibatches = {static.num_minibatches}"
        )


def q_lambda_loss(q_values, batch: dict):
    """0.5 E[(Q(s, a) - G)^2] over the valid steps: q_values [..., A]; batch: action, returns, valid [...]."""
    q_taken = jnp.take_along_axis(q_values, batch["action"][..., None], axis=-1)[..., 0]
    loss = 0.5 * masked_mean((q_taken - batch["returns"]) ** 2, batch["valid"])
    return loss, {"td_loss": loss, "q_values": masked_mean(q_taken, batch["valid"])}


def optimizer(hyper: Hyper, lr_scale=1.0) -> optax.GradientTransformation:
    return optimizers.clipped(optax.radam, hyper.lr * lr_scale, hyper.max_grad_norm)


def explore(q_values, state: AgentState, info, key):
    """(the epsilon-greedy action over the legal actions, extras) of Q-values [E, A]."""
    mask = action_mask(info)
    # M_t for the returns, over the legal actions: the parameters do not change before `learn`,
    # which reuses it
    q_max = jnp.max(masked_logits(q_values, mask), axis=-1)
    return epsilon_greedy(key, q_values, state.epsilon, mask), {"q_max": q_max}


def recurrent_agent_parts(network: Network):
    """A recurrent PQN's (act, preferences), the carry threaded as `Agent` has it."""

    def act(state: AgentState, carry, obs, first, info, key):
        carry, q_values = one_step(network, state.params, carry, obs, first)
        action, extras = explore(q_values, state, info, key)
        return action, carry, extras

    def preferences(state: AgentState, carry, obs, first):
        carry, q_values = one_step(network, state.params, carry, obs, first)
        return q_values, carry

    return act, preferences


def build(static: Static, spec: EnvSpec, num_iterations: int) -> Agent:
    recurrent = static.recurrent != "none"
    if recurrent:
        network: Network = RecurrentQNetwork(
            spec.num_actions, spec.obs_shape, static.hidden, static.recurrent, static.recurrent_size
        )
    else:
        network = QNetwork(spec.num_actions, spec.obs_shape, static.hidden, static.layer_norm)
    steps_per_rollout = static.num_envs * static.rollout_steps
    total_steps = num_iterations * steps_per_rollout
    start = functools.partial(initial_carry, size=static.recurrent_size, kind=static.recurrent)  # (E) -> carry

    def epsilon(iteration, hyper: Hyper):
        return jnp.asarray(epsilon_at(iteration * steps_per_rollout, hyper, total_steps), jnp.float32)

    def init(key, hyper: Hyper) -> AgentState:
        dummy_obs = jnp.zeros((1, *spec.obs_shape), spec.obs_dtype)
        if recurrent:  # a sequence of one step of one env
            params = network.init(key, start(1), dummy_obs[None], jnp.ones((1, 1), bool))
        else:
            params = network.init(key, dummy_obs)
        iteration = jnp.zeros((), jnp.int32)
        return AgentState(params, optimizer(hyper).init(params), iteration, epsilon(iteration, hyper))

    def act(state: AgentState, obs, key, info=()):
        return explore(network.apply(state.params, obs), state, info, key)

    def loss_fn(params, minibatch):
        if recurrent:  # whole sequences [T, E/M], replayed from their carry at the rollout's start
            minibatch, carry = minibatch
            return q_lambda_loss(network.apply(params, carry, minibatch["obs"], minibatch["first"])[1], minibatch)
        return q_lambda_loss(network.apply(params, minibatch["obs"]), minibatch)

    def learn(state: AgentState, traj: Trajectory, hyper: Hyper, key):
        if recurrent:
            last_q = last_outputs(network, state.params, traj, traj.obs, traj.last_obs)
        else:
            last_q = network.apply(state.params, traj.last_obs)
        last_q_max = jnp.max(masked_logits(last_q, action_mask(traj.last_info)), axis=-1)  # [E], legal actions
        returns = lambda_returns(
            hyper.reward_scale * traj.reward,
            next_values(traj.extras["q_max"], last_q_max),
            traj.terminated,
            traj.terminated | traj.truncated,
            hyper.gamma,
            hyper.q_lambda,
        )  # [T, E]
        steps = {"obs": traj.obs, "action": traj.action, "returns": returns, "valid": traj.valid}
        batch = ({**steps, "first": traj.first}, traj.carry) if recurrent else flatten_steps(steps)

        lr_scale = optimizers.linear_decay(state.iteration, num_iterations) if static.anneal_lr else 1.0
        (params, opt_state), metrics = minibatch_epochs(
            loss_fn,
            optimizer(hyper, lr_scale),
            state.params,
            state.opt_state,
            batch,
            key,
            static.update_epochs,
            static.num_minibatches,
            unroll_gradient_loops(spec.obs_shape),
            split=env_minibatches if recurrent else None,
        )
        iteration = state.iteration + 1
        metrics = {**jax.tree.map(jnp.mean, metrics), "epsilon": state.epsilon}
        return AgentState(params, opt_state, iteration, epsilon(iteration, hyper)), metrics

    if recurrent:
        recurrent_act, recurrent_preferences = recurrent_agent_parts(network)
        return Agent(init, recurrent_act, learn, recurrent_preferences, initial_carry=start)

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
