"""Soft Actor-Critic (Haarnoja et al., 2018) for Box actions and its discrete form (Christodoulou,
2019) for Discrete ones: one module, as `dqn.py` serves DQN and Double DQN.

SAC maximises the entropy-regularised return E[sum_t gamma^t (r_t + alpha H(pi(.|s_t)))] with twin
critics Q_1, Q_2, their target copies Q'_i (theta'_i <- tau theta_i + (1 - tau) theta'_i every
`target_update_every` env steps), an actor pi and, with `autotune`, the entropy coefficient alpha
tuned towards a target entropy H*. For every `train_every` env steps past `learning_starts` (until
then the actions are uniformly random), one minibatch from the replay takes one step on each of

    y        = r + gamma (1 - terminated) V'(s'),   V'(s') = E_{a'~pi(.|s')}[min_i Q'_i(s', a') - alpha log pi(a'|s')]
    L_Q      = sum_i E[(Q_i(s, a) - y)^2]
    L_pi     = E_s E_{a~pi(.|s)}[alpha log pi(a|s) - min_i Q_i(s, a)]        (through the updated critics)
    L_alpha  = E_s E_{a~pi(.|s)}[-alpha (log pi(a|s) + H*)]                  (alpha = exp(log alpha))

Box: a = c + s tanh(u), u ~ N(mu(s), sigma(s)^2), squashed into the action box (centre c, half-width
s); each E_{a~pi} is one reparameterised sample, and H* = -dim(A). Discrete: each E_{a~pi} is the
sum over the |A| actions weighted by pi(a|s), in closed form, and H* = target_entropy_scale *
log|A| (a fraction of the uniform policy's entropy). Both are written once, as weights w_k,
log-probabilities and critic values of K actions per state: K = 1 sample with w = 1, or K = |A|
with w = pi. A truncated episode bootstraps from its last observation, a terminated one does not.

Action masks (Discrete, where the env reports them in `Step.info`): pi is a softmax over the
state's legal actions A(s) only, so every expectation above sums over A(s) (an illegal action's
w_k is 0, and its log-probability is written as 0 so its term stays 0 for any alpha), H* is
target_entropy_scale * log|A(s)|, and acting (uniform at first, then sampled) picks legal actions
only. The replay keeps each observation's mask beside it.
"""

import dataclasses
import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl.algos.base import DISCOUNT, POSITIVE, UNIT, Algorithm, check_replay_schedule, hyper, static
from jaxrl.core import buffers, optimizers
from jaxrl.core.distributions import action_mask, masked_logits, squashed_gaussian_sample
from jaxrl.core.networks import QNetwork, SquashedGaussianActor, StateActionValue, unroll_gradient_loops
from jaxrl.core.returns import masked_mean
from jaxrl.core.types import Agent, EnvSpec, Trajectory


@dataclasses.dataclass(frozen=True)
class Static:
    num_envs: int = static(1, "envs per member")
    rollout_steps: int = static(16, "env steps per env between learn calls (the actor acts on the last one's networks)")
    buffer_size: int = static(1_000_000, "replay capacity in transitions, all of a member's envs together")
    batch_size: int = static(256, "transitions per gradient step")
    train_every: int = static(1, "env steps (all envs together) per gradient step")
    target_update_every: int = static(1, "env steps between target critic updates")
    learning_starts: int = static(
        5_000, "env steps of uniformly random actions, and transitions stored before learning", minimum=0
    )
    autotune: bool = static(True, "tune alpha towards the target entropy; False: alpha stays fixed")
    hidden: tuple[int, ...] = static((256, 256), "MLP widths of the actor and each critic, for vector observations")
    adam_eps: float = static(1e-8, "Adam's epsilon (CleanRL's sac_atari: 1e-4)", minimum=None)


@struct.dataclass
class Hyper:
    lr: float = hyper(3e-4, "Adam's learning rate for the actor (CleanRL's policy_lr)", POSITIVE)
    q_lr: float = hyper(1e-3, "Adam's learning rate for the critics and alpha", POSITIVE)
    gamma: float = hyper(0.99, "discount factor", DISCOUNT)
    tau: float = hyper(0.005, "target update rate: 1 copies the critics", DISCOUNT)
    alpha: float = hyper(1.0, "entropy coefficient: its start with autotune, else its value", POSITIVE)
    target_entropy_scale: float = hyper(
        0.89, "Discrete actions: the target entropy as a fraction of log|A| (Box: -dim(A))", UNIT
    )


class AgentState(struct.PyTreeNode):
    actor: dict
    critic: dict  # the twin critics, stacked: every leaf [2, ...]
    target_critic: dict
    log_alpha: jax.Array  # float32 scalar
    actor_opt_state: optax.OptState
    critic_opt_state: optax.OptState
    alpha_opt_state: optax.OptState
    replay: buffers.Replay
    env_steps: jax.Array  # int32: env steps this member has taken (all its envs); advanced by learn


def check(static: Static) -> None:
    check_replay_schedule(static, buffers.slots_per_env(static.buffer_size, static.num_envs))


# The losses, on K actions per state: weights [B, K], log_probs [B, K], q [2, B, K] (see the docstring).


def soft_value(weights, log_probs, q, alpha):
    """V(s) = sum_k w_k (min_i Q_i(s, a_k) - alpha log pi(a_k|s)): [B]."""
    return jnp.sum(weights * (jnp.min(q, axis=0) - alpha * log_probs), axis=-1)


def td_target(reward, terminated, next_value, gamma):
    """y = r + gamma (1 - terminated) V'(s'); [B] each."""
    return reward + gamma * (1.0 - terminated.astype(jnp.float32)) * next_value


def critic_loss(q_taken, target, mask):
    """sum_i mean (Q_i(s, a) - y)^2 over the unmasked samples; q_taken [2, B], target [B]."""
    return jnp.sum(jax.vmap(lambda q: masked_mean((q - target) ** 2, mask))(q_taken))


def actor_loss(weights, log_probs, q, alpha, mask):
    """mean_s sum_k w_k (alpha log pi(a_k|s) - min_i Q_i(s, a_k))."""
    return masked_mean(jnp.sum(weights * (alpha * log_probs - jnp.min(q, axis=0)), axis=-1), mask)


def alpha_loss(log_alpha, weights, log_probs, target_entropy, mask):
    """mean_s -alpha sum_k w_k (log pi(a_k|s) + H*), as CleanRL writes it: its gradient in log alpha,
    alpha (H - H*) with H = -E log pi, lowers alpha while the policy's entropy is above H* and
    raises it while below."""
    return masked_mean(-jnp.exp(log_alpha) * jnp.sum(weights * (log_probs + target_entropy), axis=-1), mask)


class Actions(NamedTuple):
    """What differs between the two kinds of action space (made by `box_actions` and
    `discrete_actions`); observations [B, ...] in every function."""

    actor: Any  # flax module: obs -> its policy's parameters
    critic: Any  # flax module: one critic
    critic_inputs: tuple  # the dummy inputs after params for critic.init
    # `mask` below: the states' legal actions [B, A], or None (every action legal; always for Box)
    sample: Any  # (actor params, obs, key, mask) -> actions [B(, A)] as the env takes them
    greedy: Any  # (actor params, obs) -> Agent.preferences
    uniform: Any  # (key, count, mask) -> uniformly random actions
    evaluate: Any  # (actor params, critic params, obs, key, mask) -> (weights, log_probs, q) of K actions per state
    taken: Any  # (critic params, obs, actions [B(, A)]) -> Q_i(s, a) [2, B]
    target_entropy: Any  # (hyper, mask) -> H*, a scalar (or [B, 1] per state with a mask)


def twin(apply):
    """A critic's apply over the two critics stacked in its parameters (leaves [2, ...]): outputs
    [2, ...]. Two calls rather than a vmap: a vmapped convolution is a grouped one, which XLA:CPU
    runs ~100x slower (see `jaxrl.core.population.over_members`)."""

    def both(params, *inputs):
        return jnp.stack([apply(jax.tree.map(lambda x, i=i: x[i], params), *inputs) for i in range(2)])

    return both


def box_actions(spec: EnvSpec, static: Static) -> Actions:
    actor = SquashedGaussianActor(spec.num_actions, spec.obs_shape, static.hidden)
    critic = StateActionValue(spec.obs_shape, static.hidden)
    low, high = np.asarray(spec.action_low, np.float32), np.asarray(spec.action_high, np.float32)
    scale, center = (high - low) / 2.0, (high + low) / 2.0
    q = twin(critic.apply)

    def sample_with_log_prob(actor_params, obs, key):
        mean, log_std = actor.apply(actor_params, obs)
        return squashed_gaussian_sample(mean, log_std, key, scale, center)

    def evaluate(actor_params, critic_params, obs, key, mask=None):
        action, log_prob = sample_with_log_prob(actor_params, obs, key)
        return jnp.ones_like(log_prob)[:, None], log_prob[:, None], q(critic_params, obs, action)[..., None]

    return Actions(
        actor=actor,
        critic=critic,
        critic_inputs=(jnp.zeros((1, *spec.obs_shape), spec.obs_dtype), jnp.zeros((1, spec.num_actions))),
        sample=lambda actor_params, obs, key, mask=None: sample_with_log_prob(actor_params, obs, key)[0],
        greedy=lambda actor_params, obs: center + scale * jnp.tanh(actor.apply(actor_params, obs)[0]),
        uniform=lambda key, count, mask=None: jax.random.uniform(
            key, (count, spec.num_actions), minval=low, maxval=high
        ),
        evaluate=evaluate,
        taken=q,
        target_entropy=lambda hyper, mask=None: -float(spec.num_actions),
    )


def discrete_actions(spec: EnvSpec, static: Static) -> Actions:
    actor = QNetwork(spec.num_actions, spec.obs_shape, static.hidden)  # its outputs are logits
    critic = QNetwork(spec.num_actions, spec.obs_shape, static.hidden)
    q = twin(critic.apply)

    def evaluate(actor_params, critic_params, obs, key, mask=None):
        log_probs = jax.nn.log_softmax(masked_logits(actor.apply(actor_params, obs), mask))
        weights = jnp.exp(log_probs)  # exactly 0 at an illegal action
        if mask is not None:  # its log-probability, the lowest float, would overflow times alpha > 1
            log_probs = jnp.where(mask, log_probs, 0.0)
        return weights, log_probs, q(critic_params, obs)

    def uniform(key, count, mask=None):
        if mask is None:  # the unmasked draw as it always was: a run's numbers do not change
            return jax.random.randint(key, (count,), 0, spec.num_actions)
        return jax.random.categorical(key, masked_logits(jnp.zeros(mask.shape), mask))

    def target_entropy(hyper, mask=None):
        if mask is None:
            return hyper.target_entropy_scale * math.log(spec.num_actions)
        legal = jnp.maximum(jnp.sum(mask, axis=-1, keepdims=True), 1)  # (an unfilled replay slot has none)
        return hyper.target_entropy_scale * jnp.log(legal.astype(jnp.float32))

    def taken(critic_params, obs, action):
        return jnp.take_along_axis(q(critic_params, obs), action[None, :, None], axis=-1)[..., 0]

    return Actions(
        actor=actor,
        critic=critic,
        critic_inputs=(jnp.zeros((1, *spec.obs_shape), spec.obs_dtype),),
        sample=lambda actor_params, obs, key, mask=None: jax.random.categorical(
            key, masked_logits(actor.apply(actor_params, obs), mask)
        ),
        greedy=actor.apply,
        uniform=uniform,
        evaluate=evaluate,
        taken=taken,
        target_entropy=target_entropy,
    )


def adam(static: Static, lr):
    return optimizers.injected(lambda learning_rate: optax.adam(learning_rate, eps=static.adam_eps), learning_rate=lr)


def init_state(actions: Actions, spec: EnvSpec, static: Static, key, hyper: Hyper) -> AgentState:
    actor_key, critic_key = jax.random.split(key)
    actor = actions.actor.init(actor_key, jnp.zeros((1, *spec.obs_shape), spec.obs_dtype))
    # one after the other, not vmapped: see `twin` (and init_learning: batched orthogonal inits)
    critics = [actions.critic.init(k, *actions.critic_inputs) for k in jax.random.split(critic_key)]
    critic = jax.tree.map(lambda *pair: jnp.stack(pair), *critics)
    log_alpha = jnp.log(jnp.asarray(hyper.alpha, jnp.float32))
    return AgentState(
        actor=actor,
        critic=critic,
        target_critic=jax.tree.map(jnp.copy, critic),
        log_alpha=log_alpha,
        actor_opt_state=adam(static, hyper.lr).init(actor),
        critic_opt_state=adam(static, hyper.q_lr).init(critic),
        alpha_opt_state=adam(static, hyper.q_lr).init(log_alpha),
        replay=buffers.init(
            buffers.slots_per_env(static.buffer_size, static.num_envs),
            static.num_envs,
            spec.obs_shape,
            spec.obs_dtype,
            buffers.frame_stack(spec),
            spec.action_shape,
            masked_actions=buffers.masked_actions(spec),
        ),
        env_steps=jnp.zeros((), jnp.int32),
    )


def critic_step(actions: Actions, static: Static, nets: dict, batch: buffers.Batch, target, hyper: Hyper):
    """One Adam step on L_Q towards the fixed target y: (critic, its optimizer state, L_Q, mean Q)."""

    def critic_objective(critic):
        q_taken = actions.taken(critic, batch.obs, batch.action)
        return critic_loss(q_taken, target, batch.mask), masked_mean(jnp.mean(q_taken, axis=0), batch.mask)

    (q_loss, q_mean), grads = jax.value_and_grad(critic_objective, has_aux=True)(nets["critic"])
    updates, critic_opt_state = adam(static, hyper.q_lr).update(grads, nets["critic_opt_state"], nets["critic"])
    return optax.apply_updates(nets["critic"], updates), critic_opt_state, q_loss, q_mean


def actor_step(actions: Actions, static: Static, nets: dict, critic, batch: buffers.Batch, alpha, hyper: Hyper, key):
    """One Adam step on L_pi through `critic`: (actor, its optimizer state, L_pi, (weights, log_probs))."""

    def actor_objective(actor):
        weights, log_probs, q = actions.evaluate(actor, critic, batch.obs, key, batch.action_mask)
        return actor_loss(weights, log_probs, q, alpha, batch.mask), (weights, log_probs)

    (pi_loss, (weights, log_probs)), grads = jax.value_and_grad(actor_objective, has_aux=True)(nets["actor"])
    updates, actor_opt_state = adam(static, hyper.lr).update(grads, nets["actor_opt_state"], nets["actor"])
    return optax.apply_updates(nets["actor"], updates), actor_opt_state, pi_loss, (weights, log_probs)


def alpha_step(actions: Actions, static: Static, nets: dict, weights, log_probs, mask, legal, hyper: Hyper):
    """L_alpha, and with autotune one Adam step on it: (log alpha, its optimizer state, L_alpha).
    `legal`: the states' legal actions [B, A] (None: all)."""
    log_alpha, alpha_opt_state = nets["log_alpha"], nets["alpha_opt_state"]
    temperature_loss, grad = jax.value_and_grad(alpha_loss)(
        log_alpha, weights, log_probs, actions.target_entropy(hyper, legal), mask
    )
    if static.autotune:
        step, alpha_opt_state = adam(static, hyper.q_lr).update(grad, alpha_opt_state, log_alpha)
        log_alpha = optax.apply_updates(log_alpha, step)
    return log_alpha, alpha_opt_state, temperature_loss


def update(actions: Actions, static: Static, nets: dict, batch: buffers.Batch, hyper: Hyper, key):
    """One step on L_Q, then on L_pi through the new critics, then on L_alpha. `nets`: the
    NETWORKS fields of the agent state. Returns (nets, metrics)."""
    target_key, actor_key = jax.random.split(key)
    alpha = jnp.exp(nets["log_alpha"])
    weights, log_probs, next_q = actions.evaluate(
        nets["actor"], nets["target_critic"], batch.next_obs, target_key, batch.next_action_mask
    )
    target = jax.lax.stop_gradient(
        td_target(batch.reward, batch.terminated, soft_value(weights, log_probs, next_q, alpha), hyper.gamma)
    )
    critic, critic_opt_state, q_loss, q_mean = critic_step(actions, static, nets, batch, target, hyper)
    actor, actor_opt_state, pi_loss, (weights, log_probs) = actor_step(
        actions, static, nets, critic, batch, alpha, hyper, actor_key
    )
    weights, log_probs = jax.lax.stop_gradient((weights, log_probs))
    log_alpha, alpha_opt_state, temperature_loss = alpha_step(
        actions, static, nets, weights, log_probs, batch.mask, batch.action_mask, hyper
    )
    nets = dict(
        nets,
        actor=actor,
        critic=critic,
        log_alpha=log_alpha,
        actor_opt_state=actor_opt_state,
        critic_opt_state=critic_opt_state,
        alpha_opt_state=alpha_opt_state,
    )
    metrics = {
        "qf_loss": q_loss,
        "actor_loss": pi_loss,
        "alpha_loss": temperature_loss,
        "q_values": q_mean,
        "entropy": -masked_mean(jnp.sum(weights * log_probs, axis=-1), batch.mask),
    }
    return nets, metrics


def build(static: Static, spec: EnvSpec, num_iterations: int) -> Agent:
    actions = box_actions(spec, static) if spec.continuous else discrete_actions(spec, static)
    steps_per_rollout = static.num_envs * static.rollout_steps
    updates_per_rollout = steps_per_rollout // static.train_every

    def act(state: AgentState, obs, key, info=()):
        policy_key, uniform_key = jax.random.split(key)
        mask = action_mask(info)
        sampled = actions.sample(state.actor, obs, policy_key, mask)
        uniform = actions.uniform(uniform_key, obs.shape[0], mask)
        return jnp.where(state.env_steps < static.learning_starts, uniform, sampled).astype(sampled.dtype), {}

    def learn(state: AgentState, traj: Trajectory, hyper: Hyper, key):
        replay = buffers.add_trajectory(state.replay, traj)

        def gradient_step(nets: dict, inputs):
            env_step, stored, step_key = inputs  # this update's env step; steps in the replay by then
            sample_key, update_key = jax.random.split(step_key)
            # Learning waits for `learning_starts` stored steps (a run resumed without its replay
            # refills it first); the step is computed always and kept only once learning has
            # started, as in DQN (a lax.cond would compute both branches under vmap anyway).
            trained = stored > static.learning_starts
            batch = buffers.sample(replay, sample_key, static.batch_size)
            new_nets, metrics = update(actions, static, nets, batch, hyper, update_key)
            nets = jax.tree.map(lambda new, old: jnp.where(trained, new, old), new_nets, nets)
            due = trained & buffers.crossed(env_step, static.target_update_every, static.train_every)
            nets["target_critic"] = jax.lax.cond(
                due,
                lambda: optax.incremental_update(nets["critic"], nets["target_critic"], hyper.tau),
                lambda: nets["target_critic"],
            )
            return nets, ({name: jnp.where(trained, value, 0.0) for name, value in metrics.items()}, trained)

        update_steps, stored_steps = buffers.update_schedule(
            state.replay, state.env_steps, static.num_envs, static.train_every, updates_per_rollout
        )
        nets, (metrics, trained) = jax.lax.scan(
            gradient_step,
            {name: getattr(state, name) for name in NETWORKS},
            (update_steps, stored_steps, jax.random.split(key, updates_per_rollout)),
            unroll=unroll_gradient_loops(spec.obs_shape),  # see dqn.py
        )
        count = jnp.maximum(jnp.sum(trained), 1)
        metrics = {name: jnp.sum(value) / count for name, value in metrics.items()}
        metrics["alpha"] = jnp.exp(nets["log_alpha"])
        return state.replace(**nets, replay=replay, env_steps=state.env_steps + steps_per_rollout), metrics

    def preferences(state: AgentState, obs):
        return actions.greedy(state.actor, obs)

    def outputs(state: AgentState, obs):
        if spec.continuous:  # of u, before the squash: the action is center + scale * tanh(mean)
            mean, log_std = actions.actor.apply(state.actor, obs)
            return {"mean": mean, "log_std": log_std}
        return {"logits": actions.actor.apply(state.actor, obs)}

    return Agent(functools.partial(init_state, actions, spec, static), act, learn, preferences, outputs)


NETWORKS = ("actor", "critic", "target_critic", "log_alpha", "actor_opt_state", "critic_opt_state", "alpha_opt_state")

ALGORITHM = Algorithm(
    name="sac",
    summary="SAC: twin soft Q critics, a squashed-Gaussian (Box) or categorical (Discrete) actor, tuned entropy",
    Static=Static,
    Hyper=Hyper,
    build=build,
    networks=NETWORKS,
    replay="replay",
    check=check,
    action_spaces=("Discrete", "Box"),
)
