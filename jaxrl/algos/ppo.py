"""Proximal Policy Optimization with GAE and minibatch epochs (Schulman et al., 2017).

Each iteration collects T steps from E envs, estimates advantages A_t with GAE(gamma, lambda),
then takes `update_epochs` passes over the batch in `num_minibatches` shuffled minibatches,
minimising

    L(theta) = -E[min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t)]     rho_t = pi(a_t|s_t) / pi_old(a_t|s_t)
               + c_v E[0.5 (V(s_t) - R_t)^2] - c_e E[H(pi(.|s_t))]       R_t = A_t + V_old(s_t)

with the value error optionally clipped around V_old (OpenAI baselines). EnvPool's auto-reset
steps (the step after an episode ended) carry no transition and are masked out of every mean.

pi is categorical over Discrete actions, and for Box actions a diagonal Gaussian N(mu(s), sigma^2)
with a state-independent, learned log sigma (CleanRL's ppo_continuous_action): log pi(a|s) is
taken of the action as sampled, the env being given it clipped to its bounds. `norm_obs` and
`norm_reward` rescale observations and rewards by running statistics kept in the learning state
(`jaxrl.core.normalization`).

With `recurrent` "gru" or "lstm" (PureJaxRL's PPO-RNN) a recurrent core sits between the encoder
and the heads (`jaxrl.core.recurrent`): acting threads its carry, reset where an episode starts,
and learning cuts minibatches along the env axis only, replaying each whole sequence from the
carry stored at the rollout's start, so the log-probs it learns from are the ones acted on.

With `critic` "central" (MAPPO, Yu et al., 2022) the value reads the world state a multi-agent env
gives each row (`Step.info["world_state"]`, `jaxrl.envs.jaxmarl`) through its own MLP, and the
policy the agent's own observation: the critic is needed only in learning, so acting greedily
needs no world state. With a recurrent core as well (JaxMARL's MAPPO-RNN), the critic is a
recurrent network of its own on the world state, with its own carry
(`jaxrl.core.recurrent_central`).

With `lag` >= 1 (EnvPool, feed-forward, local critic) actors step the envs with parameters `lag`
updates old while the learner learns (`jaxrl.training.actor_learner`), so the rollout comes from a
behaviour policy mu that is not the policy the update starts from. The learner corrects for it with
the decoupled objective (Hilton et al., 2022, "Batch size-invariance for policy optimization"): one
forward pass at the start of `learn`, with the parameters the update starts from, gives the
proximal policy pi_prox and values V_prox (no gradient through either), and

    L_pi(theta) = -E_mu[w_t min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)]
    r_t = pi(a_t|s_t) / pi_prox(a_t|s_t)        w_t = min(1, pi_prox(a_t|s_t) / mu(a_t|s_t))

The clip keeps the new policy near pi_prox, the trust region around the current policy rather than
the stale one; w_t reweights mu's samples towards pi_prox. Untruncated, w_t makes the estimate
unbiased, but one rare action can carry a large weight; it is truncated at 1 as V-trace's rho_bar
(Espeholt et al., 2018), which bounds the variance at the price of a bias that a lag of one update
keeps small. GAE uses V_prox, not the values mu's parameters recorded: the same forward pass gives
them, they are the critic the update starts from (one update fresher), and the value clip then
holds the critic near it as on-policy PPO does. With mu = pi_prox (lag 0) w_t = 1 and r_t is PPO's
ratio: the objective is PPO's, and lag 0 compiles exactly the synchronous PPO program.
"""

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
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
from jaxrl.core import distributions, normalization, optimizers
from jaxrl.core.distributions import with_action_mask
from jaxrl.core.losses import normalized
from jaxrl.core.minibatches import env_minibatches, minibatch_epochs
from jaxrl.core.networks import (
    ActorCritic,
    CentralActorCritic,
    GaussianActorCritic,
    Network,
    unroll_gradient_loops,
)
from jaxrl.core.recurrent import (
    DEFAULT_SIZE,
    RecurrentActorCritic,
    check_recurrent,
    initial_carry,
    last_outputs,
    one_step,
)
from jaxrl.core.recurrent_central import RecurrentCentralActorCritic, central_carry, central_inputs
from jaxrl.core.returns import gae, masked_mean, next_values
from jaxrl.core.types import Agent, EnvSpec, Trajectory, flatten_steps

CRITICS = ("local", "central")
CRITIC_HELP = "local: the value reads the agent's observation; central (MAPPO): the world state of a multi-agent env"


@dataclasses.dataclass(frozen=True)
class Static:
    num_envs: int = static(8, "envs per member")
    rollout_steps: int = static(128, "env steps per env between updates (T)")
    num_minibatches: int = static(4, "minibatches per epoch; must divide num_envs * rollout_steps")
    update_epochs: int = static(4, "passes over each rollout")
    anneal_lr: bool = static(True, "decay lr linearly to 0 over the run")
    norm_adv: bool = static(True, "normalise advantages within each minibatch")
    clip_vloss: bool = static(True, "clip the value error around the old value, as OpenAI baselines does")
    shared_torso: bool = static(True, "one torso for policy and value (Atari); False: two (CartPole)")
    hidden: tuple[int, ...] = static((64, 64), "MLP widths, for vector observations")
    norm_obs: bool = static(False, "normalise observations by their running mean and std, clipped to +-10")
    norm_reward: bool = static(False, "divide rewards by the running std of the discounted return, clip to +-10")
    cnn: bool = static(
        True, "images through a CNN (Nature's, MinAtar's); False: flattened into the MLP (rejax on MinAtar)"
    )
    recurrent: str = static("none", RECURRENT_HELP)
    recurrent_size: int = static(DEFAULT_SIZE, RECURRENT_SIZE_HELP)
    critic: str = static("local", CRITIC_HELP)
    lag: int = lag_field(0, "PPO's loop; >= 1: the actor-learner with the decoupled objective")
    actor_threads: int = actor_threads_field()
    actor_devices: tuple[int, ...] = actor_devices_field()
    learner_devices: tuple[int, ...] = learner_devices_field()


@struct.dataclass
class Hyper:
    lr: float = hyper(2.5e-4, "Adam's learning rate (its start, with anneal_lr)", POSITIVE)
    gamma: float = hyper(0.99, "discount factor", DISCOUNT)
    gae_lambda: float = hyper(0.95, "GAE's lambda: 0 is one-step TD, 1 Monte Carlo", UNIT)
    clip_eps: float = hyper(0.1, "clip range of the probability ratio (and of the value, with clip_vloss)", POSITIVE)
    ent_coef: float = hyper(0.01, "weight of the entropy bonus", NON_NEGATIVE)
    vf_coef: float = hyper(0.5, "weight of the value loss", NON_NEGATIVE)
    max_grad_norm: float = hyper(0.5, "gradients are clipped to this global norm", POSITIVE)


class AgentState(struct.PyTreeNode):
    params: VariableDict
    opt_state: optax.OptState
    iteration: jax.Array  # int32, learn calls so far (drives lr annealing)
    obs_stats: normalization.RunningStats | None = None  # with norm_obs
    reward_scale: normalization.RewardScale | None = None  # with norm_reward


def check(static: Static) -> None:
    check_recurrent(static)
    if static.critic not in CRITICS:
        raise ValueError(f"invalid --critic {static.critic!r}: choose {' or '.join(CRITICS)}")
    batch = static.num_envs * static.rollout_steps
    if batch % static.num_minibatches:
        raise ValueError(
            f"num_envs * rollout_steps = {batch} is not divisible by num_minibatches = {static.num_minibatches}"
        )
    if static.norm_adv and batch // static.num_minibatches < 2:
        raise ValueError("a minibatch of 1 cannot normalise advantages; use fewer minibatches or --no-norm-adv")
    check_actor_threads(static)
    if static.lag and (static.recurrent != "none" or static.critic != "local"):
        # the actors act feed-forward on observations alone: no carry, no world state
        kind = f"--recurrent {static.recurrent}" if static.recurrent != "none" else f"--critic {static.critic}"
        raise ValueError(f"--lag {static.lag} runs feed-forward PPO with a local critic; {kind} needs --lag 0")


def ppo_loss(log_prob, entropy, value, batch: dict, hyper: Hyper, clip_vloss: bool, norm_adv: bool):
    """The clipped surrogate objective on one minibatch; all inputs [B]. Returns (loss, metrics).
    With a lag, batch["log_prob"] is the proximal policy's and batch["weight"] each sample's w_t
    (the decoupled objective, see the module's docstring)."""
    mask = batch["valid"]
    advantages = normalized(batch["advantages"], mask) if norm_adv else batch["advantages"]
    log_ratio = log_prob - batch["log_prob"]
    ratio = jnp.exp(log_ratio)
    clipped_ratio = jnp.clip(ratio, 1.0 - hyper.clip_eps, 1.0 + hyper.clip_eps)
    surrogate = jnp.maximum(-advantages * ratio, -advantages * clipped_ratio)
    if "weight" in batch:
        surrogate = batch["weight"] * surrogate
    policy_loss = masked_mean(surrogate, mask)

    value_error = (value - batch["returns"]) ** 2
    if clip_vloss:
        clipped_value = batch["value"] + jnp.clip(value - batch["value"], -hyper.clip_eps, hyper.clip_eps)
        value_error = jnp.maximum(value_error, (clipped_value - batch["returns"]) ** 2)
    value_loss = 0.5 * masked_mean(value_error, mask)
    entropy_mean = masked_mean(entropy, mask)

    loss = policy_loss + hyper.vf_coef * value_loss - hyper.ent_coef * entropy_mean
    metrics = {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy_mean,
        "approx_kl": masked_mean((ratio - 1.0) - log_ratio, mask),
        "clipfrac": masked_mean((jnp.abs(ratio - 1.0) > hyper.clip_eps).astype(jnp.float32), mask),
    }
    if "weight" in batch:  # 1 on-policy
        metrics["importance_weight"] = masked_mean(batch["weight"], mask)
    return loss, metrics


def policy(static: Static, spec: EnvSpec) -> tuple[Network, distributions.PolicyHead]:
    """The actor-critic network and its action distribution: Gaussian for Box actions, else categorical."""
    if static.recurrent != "none" and static.critic == "central":  # actor and critic each with its carry
        network: Network = RecurrentCentralActorCritic(
            spec.num_actions,
            spec.obs_shape[0],
            spec.world_state_size,
            static.hidden,
            static.recurrent,
            static.recurrent_size,
        )
        return network, distributions.CATEGORICAL
    if static.recurrent != "none":  # one torso for both heads, as PureJaxRL's PPO-RNN has it
        network = RecurrentActorCritic(
            spec.num_actions,
            spec.obs_shape,
            static.hidden,
            static.recurrent,
            static.recurrent_size,
            spec.continuous,
            static.cnn,
        )
        return network, distributions.DIAGONAL_GAUSSIAN if spec.continuous else distributions.CATEGORICAL
    if static.critic == "central":
        network = CentralActorCritic(spec.num_actions, spec.obs_shape, spec.world_state_size, static.hidden)
        return network, distributions.CATEGORICAL
    if spec.continuous:
        network = GaussianActorCritic(spec.num_actions, spec.obs_shape, static.hidden, static.shared_torso, static.cnn)
        return network, distributions.DIAGONAL_GAUSSIAN
    return (
        ActorCritic(spec.num_actions, spec.obs_shape, static.hidden, static.shared_torso, static.cnn),
        distributions.CATEGORICAL,
    )


def advantage_batch(
    traj: Trajectory, obs, last_value, reward_scale: normalization.RewardScale | None, hyper: Hyper
) -> tuple[dict, normalization.RewardScale | None]:
    """The rollout as a batch (leaves [T, E, ...]) with GAE's advantages A_t and returns R_t (`obs`
    as the networks see them); with norm_reward the rewards are scaled first. Returns (batch, reward_scale)."""
    value = traj.extras["value"]
    done = traj.terminated | traj.truncated
    reward = traj.reward
    if reward_scale is not None:
        reward, reward_scale = normalization.scale_rewards(reward_scale, reward, done, traj.valid, hyper.gamma)
    advantages, returns = gae(
        reward, value, next_values(value, last_value), traj.terminated, done, hyper.gamma, hyper.gae_lambda
    )
    batch = {
        "obs": obs,
        "action": traj.action,
        "log_prob": traj.extras["log_prob"],
        "value": value,
        "advantages": advantages,
        "returns": returns,
        "valid": traj.valid,
    }
    return batch, reward_scale


def decoupled(traj: Trajectory, prox_log_prob, prox_value) -> Trajectory:
    """The rollout as the decoupled objective learns from it: the proximal policy's log-probs and
    values [T, E] in place of the behaviour policy's, and each step's weight min(1, pi_prox / mu)."""
    prox_log_prob, prox_value = jax.lax.stop_gradient((prox_log_prob, prox_value))
    weight = jnp.minimum(1.0, jnp.exp(prox_log_prob - traj.extras["log_prob"]))
    return traj._replace(extras={**traj.extras, "log_prob": prox_log_prob, "value": prox_value, "weight": weight})


def optimizer(hyper: Hyper, lr_scale=1.0) -> optax.GradientTransformation:
    return optimizers.clipped(lambda lr: optax.adam(lr, eps=1e-5), hyper.lr * lr_scale, hyper.max_grad_norm)


def seen(state: AgentState, obs):
    """Observations as the networks see them: through the running statistics, with norm_obs."""
    return obs if state.obs_stats is None else normalization.normalize(state.obs_stats, obs)


def evaluator(network: Network):
    """(params, obs, info) -> (policy outputs, value): `info` (the env's, or a batch) holds the
    world state a central critic reads; a local one reads obs. Without a world state (a loaded
    policy sampling actions) a central critic gives no value: None."""
    if isinstance(network, CentralActorCritic):

        def evaluate(params, obs, info):
            world_state = info.get("world_state") if isinstance(info, dict) else None
            return observed(network, params, obs) if world_state is None else network.apply(params, obs, world_state)

        return evaluate
    return lambda params, obs, info=(): network.apply(params, obs)


def observed(network: Network, params, obs):
    """(policy outputs, value or None) from observations alone: a central critic's value needs the
    world state, which greedy acting and exports do not have."""
    if isinstance(network, CentralActorCritic):
        return network.apply(params, obs, method=CentralActorCritic.policy), None
    return network.apply(params, obs)


def greedy(network: Network, head: distributions.PolicyHead, spec: EnvSpec):
    """A feed-forward agent's (preferences, outputs): its greedy policy and what an export gives."""

    def preferences(state: AgentState, obs):
        return head.preference(observed(network, state.params, seen(state, obs))[0])

    def outputs(state: AgentState, obs):
        out, value = observed(network, state.params, seen(state, obs))
        named = {"mean": out[0], "log_std": out[1]} if spec.continuous else {"logits": out}
        return named if value is None else {**named, "value": value}

    return preferences, outputs


def recurrent_greedy(network: Network, head: distributions.PolicyHead, inputs: Callable) -> Callable:
    """A recurrent agent's preferences: (state, carry, obs [E, ...], first [E]) -> (preferences
    [E, A], carry), the carry moving on as in acting. `inputs`: recurrent_inputs'."""

    def preferences(state: AgentState, carry, obs, first):
        carry, (out, _) = one_step(network, state.params, carry, inputs(seen(state, obs)), first)
        return head.preference(out), carry

    return preferences


def flat_batch(batch: dict, traj: Trajectory) -> dict:
    """A feed-forward learner's batch: every step a sample [T*E, ...], with its action mask."""
    return with_action_mask(flatten_steps(batch), traj)


def sequence_batch(batch: dict, traj: Trajectory) -> dict:
    """A recurrent learner's batch: the rollout as it is [T, E, ...], with where each episode
    starts (the replay resets there) and the action masks [T, E, A] where the env has them."""
    mask = distributions.action_mask(traj.info)
    return {**batch, "first": traj.first} | ({} if mask is None else {"action_mask": mask})


def dummy_inputs(static: Static, spec: EnvSpec) -> tuple:
    """What `network.init` is given: one observation (and one world state for a central critic);
    a recurrent network's carry, inputs and `first` of a sequence of one step of one env."""
    obs = jnp.zeros((1, *spec.obs_shape), spec.obs_dtype)
    if static.recurrent != "none":
        return carry_fn(static)(1), recurrent_inputs(static, spec)(obs)[None], jnp.ones((1, 1), bool)
    return (obs, jnp.zeros((1, spec.world_state_size), jnp.float32)) if static.critic == "central" else (obs,)


def carry_fn(static: Static) -> Callable[[int], Any]:
    """(E) -> a recurrent agent's carry where an episode starts (a central critic's beside the actor's)."""
    carry_of = central_carry if static.critic == "central" else initial_carry
    return functools.partial(carry_of, size=static.recurrent_size, kind=static.recurrent)


def recurrent_inputs(static: Static, spec: EnvSpec) -> Callable[..., jax.Array]:
    """(obs [..., D], info) -> what a recurrent network reads: obs, or with a central critic obs
    and the world state side by side (`central_inputs`)."""
    if static.critic == "central":
        return lambda obs, info=(): central_inputs(obs, info, spec.world_state_size)
    return lambda obs, info=(): obs


def world_states(traj: Trajectory, static: Static) -> dict:
    """The rollout's world states [T, E, W] for a central critic's batch; {} for a local one."""
    return {"world_state": traj.info["world_state"]} if static.critic == "central" else {}


def initial_state(params, hyper: Hyper, static: Static, spec: EnvSpec) -> AgentState:
    return AgentState(
        params,
        optimizer(hyper).init(params),
        jnp.zeros((), jnp.int32),
        obs_stats=normalization.init_stats(spec.obs_shape) if static.norm_obs else None,
        reward_scale=normalization.init_reward_scale(static.num_envs) if static.norm_reward else None,
    )


def proximal(evaluate, log_prob, params, traj: Trajectory, obs, num_minibatches: int, unroll) -> Trajectory:
    """`decoupled`'s rollout, from one forward pass with `params` (those the update starts from),
    a minibatch at a time: on XLA:CPU the whole rollout's patch matmuls at once cost far more
    than the same work in the minibatches' shapes (Pong's update 1.24-1.48x PPO's, BENCHMARKS "PPO with
    a lag on the actor-learner"). `log_prob(out, batch)`: the log-probs of the batch's actions."""
    steps, envs = traj.action.shape[:2]
    chunks = jax.tree.map(lambda x: x.reshape(num_minibatches, -1, *x.shape[2:]), obs)
    _, outputs = jax.lax.scan(lambda _, o: (None, evaluate(params, o)), None, chunks, unroll=unroll)
    out, value = jax.tree.map(lambda x: x.reshape(steps * envs, *x.shape[2:]), outputs)
    batch = flat_batch({"action": traj.action}, traj)
    return decoupled(traj, log_prob(out, batch).reshape(steps, envs), value.reshape(steps, envs))


def build(static: Static, spec: EnvSpec, num_iterations: int) -> Agent:
    network, head = policy(static, spec)
    evaluate = evaluator(network)
    unroll = unroll_gradient_loops(spec.obs_shape)
    recurrent = static.recurrent != "none"
    inputs = recurrent_inputs(static, spec)

    def init(key, hyper: Hyper) -> AgentState:
        return initial_state(network.init(key, *dummy_inputs(static, spec)), hyper, static, spec)

    def legal(out, mask):
        """Categorical logits with the illegal actions (`mask` False) out; a Gaussian's as they are."""
        return out if spec.continuous else distributions.masked_logits(out, mask)

    def taken_log_prob(out, batch):  # of the batch's actions, over the legal ones
        return head.log_prob(legal(out, batch.get("action_mask")), batch["action"])

    def sample(out, value, info, key):
        out = legal(out, distributions.action_mask(info))
        action = head.sample(out, key)
        return action, {"log_prob": head.log_prob(out, action), "value": value}

    def act(state: AgentState, obs, key, info=()):
        out, value = evaluate(state.params, seen(state, obs), info)
        return sample(out, value, info, key)

    def act_recurrent(state: AgentState, carry, obs, first, info, key):
        carry, (out, value) = one_step(network, state.params, carry, inputs(seen(state, obs), info), first)
        action, extras = sample(out, value, info, key)
        return action, carry, extras

    def loss_fn(params, batch, hyper):
        if recurrent:  # whole sequences [T, E/M], replayed from their carry at the rollout's start
            batch, carry = batch
            _, (out, value) = network.apply(params, carry, batch["obs"], batch["first"])
        else:
            out, value = evaluate(params, batch["obs"], batch)
        out = legal(out, batch.get("action_mask"))  # log-probs and entropy over the legal actions
        log_prob, entropy = head.log_prob(out, batch["action"]), head.entropy(out)
        return ppo_loss(log_prob, entropy, value, batch, hyper, static.clip_vloss, static.norm_adv)

    def learn(state: AgentState, traj: Trajectory, hyper: Hyper, key):
        obs = seen(state, traj.obs)
        if static.lag:  # a static branch: lag 0 traces exactly the synchronous program
            traj = proximal(evaluate, taken_log_prob, state.params, traj, obs, static.num_minibatches, unroll)
        if recurrent:  # a central critic's world state travels in the inputs
            obs = inputs(obs, traj.info)
            last_obs = inputs(seen(state, traj.last_obs), traj.last_info)
            last_value = last_outputs(network, state.params, traj, obs, last_obs)[1]
        else:
            last_value = evaluate(state.params, seen(state, traj.last_obs), traj.last_info)[1]
        batch, reward_scale = advantage_batch(traj, obs, last_value, state.reward_scale, hyper)
        batch |= {"weight": traj.extras["weight"]} if static.lag else {}
        batch |= {} if recurrent else world_states(traj, static)
        samples = (sequence_batch(batch, traj), traj.carry) if recurrent else flat_batch(batch, traj)
        lr_scale = optimizers.linear_decay(state.iteration, num_iterations) if static.anneal_lr else 1.0
        (params, opt_state), metrics = minibatch_epochs(
            lambda params, minibatch: loss_fn(params, minibatch, hyper),
            optimizer(hyper, lr_scale),
            state.params,
            state.opt_state,
            samples,
            key,
            static.update_epochs,
            static.num_minibatches,
            unroll,
            split=env_minibatches if recurrent else None,
        )
        obs_stats = state.obs_stats
        if obs_stats is not None:  # after learning: this rollout was acted on and learned through the old ones
            obs_stats = normalization.update(obs_stats, flatten_steps(traj.obs), flatten_steps(traj.valid))
        state = AgentState(params, opt_state, state.iteration + 1, obs_stats, reward_scale)
        return state, jax.tree.map(jnp.mean, metrics)

    if recurrent:
        return Agent(
            init, act_recurrent, learn, recurrent_greedy(network, head, inputs), initial_carry=carry_fn(static)
        )
    return Agent(init, act, learn, *greedy(network, head, spec))


ALGORITHM = Algorithm(
    name="ppo",
    summary="PPO with GAE and minibatch epochs",
    Static=Static,
    Hyper=Hyper,
    build=build,
    # the running statistics go with the networks that were trained through them
    networks=("params", "opt_state", "obs_stats", "reward_scale"),
    check=check,
    action_spaces=("Discrete", "Box"),
)
