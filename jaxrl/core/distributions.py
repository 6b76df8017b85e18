"""Policy distributions: categorical over logits [..., A]; diagonal Gaussian over actions [..., A]
(PPO); and the tanh-squashed Gaussian of SAC, whose samples lie inside an action box."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def masked_logits(logits: jax.Array, mask: jax.Array | None) -> jax.Array:
    """Logits [..., A] with illegal actions (`mask` False) at the lowest finite float: softmax
    gives them probability exactly 0, so sampling never picks them, log-probs and entropy run over
    the legal actions only, and 0 * log 0 stays 0 (-inf would make it NaN). None: unmasked."""
    if mask is None:
        return logits
    return jnp.where(mask, logits, jnp.finfo(logits.dtype).min)


def action_mask(info: Any) -> jax.Array | None:
    """The legal actions the env reports beside obs (`Step.info["action_mask"]`, bool [..., A],
    False: illegal); None where it reports none: every action legal."""
    return info.get("action_mask") if isinstance(info, dict) else None


def with_action_mask(batch: dict, traj: Any) -> dict:
    """A flat batch of a trajectory's steps with their action masks ("action_mask" [T*E, A]) where
    the env reports them: unchanged where it does not, so an unmasked run costs nothing."""
    mask = action_mask(traj.info)
    if mask is None:
        return batch
    return {**batch, "action_mask": mask.reshape(-1, mask.shape[-1])}


def masked_argmax(values: jax.Array, mask: jax.Array | None) -> jax.Array:
    """The best legal action of values [..., A] (Q-values, logits) as int32 [...]."""
    return jnp.argmax(masked_logits(values, mask), axis=-1).astype(jnp.int32)


def log_prob(logits: jax.Array, action: jax.Array) -> jax.Array:
    log_p = jax.nn.log_softmax(logits)
    return jnp.take_along_axis(log_p, action[..., None].astype(jnp.int32), axis=-1)[..., 0]


def entropy(logits: jax.Array) -> jax.Array:
    log_p = jax.nn.log_softmax(logits)
    return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
    """log N(action; mean, diag(exp(log_std))^2), summed over the action's components: [...]."""
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - LOG_SQRT_2PI, axis=-1)


def gaussian_entropy(log_std: jax.Array) -> jax.Array:
    """H = sum_i (log sigma_i + 1/2 log(2 pi e)): [...]."""
    return jnp.sum(log_std + 0.5 + LOG_SQRT_2PI, axis=-1)


def gaussian_sample(mean: jax.Array, log_std: jax.Array, key: jax.Array) -> jax.Array:
    return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)


def log_one_minus_tanh_squared(u: jax.Array) -> jax.Array:
    """log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), exact where tanh(u) rounds to +-1."""
    return 2.0 * (np.log(2.0) - u - jax.nn.softplus(-2.0 * u))


def squashed_gaussian_sample(mean, log_std, key, scale, center) -> tuple[jax.Array, jax.Array]:
    """a = center + scale * tanh(u), u ~ N(mean, diag(exp(log_std))^2); returns (a, log pi(a)):

    log pi(a) = log N(u) - sum_i log(scale_i (1 - tanh(u_i)^2))      (Haarnoja et al., 2018, app. C)
    """
    u = gaussian_sample(mean, log_std, key)
    correction = jnp.sum(jnp.log(scale) + log_one_minus_tanh_squared(u), axis=-1)
    return center + scale * jnp.tanh(u), gaussian_log_prob(mean, log_std, u) - correction


class PolicyHead(NamedTuple):
    """How an actor-critic acts on what its policy head outputs (`out`: logits, or a Gaussian's
    (mean, log_std)): sampling, log-probability and entropy of a batch, and the greedy preference
    (`jaxrl.core.types.Agent.preferences`: logits, or the mean)."""

    sample: Any  # (out, key) -> action [B] or [B, A]
    log_prob: Any  # (out, action) -> [B]
    entropy: Any  # (out) -> [B]
    preference: Any  # (out) -> [B, A]


CATEGORICAL = PolicyHead(
    sample=lambda logits, key: jax.random.categorical(key, logits),
    log_prob=log_prob,
    entropy=entropy,
    preference=lambda logits: logits,
)
DIAGONAL_GAUSSIAN = PolicyHead(
    sample=lambda out, key: gaussian_sample(out[0], out[1], key),
    log_prob=lambda out, action: gaussian_log_prob(out[0], out[1], action),
    entropy=lambda out: gaussian_entropy(out[1]),
    preference=lambda out: out[0],
)
