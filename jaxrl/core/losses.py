"""Losses that more than one algorithm uses: written once here, never imported from another
algorithm's module."""

import jax.numpy as jnp

from jaxrl.core.returns import masked_mean


def normalized(advantages, mask):
    """Advantages scaled to zero mean and unit std over the unmasked steps."""
    mean = masked_mean(advantages, mask)
    std = jnp.sqrt(masked_mean((advantages - mean) ** 2, mask))
    return (advantages - mean) / (std + 1e-8)


def policy_gradient_loss(log_prob, entropy, value, batch: dict, hyper, baseline: bool, norm_adv: bool):
    """-E[log pi(a|s) A] + c_v E[0.5 (R - V(s))^2] - c_e E[H] over the steps in batch["mask"].

    All inputs [B]; `value` carries the gradient of the value head, batch["advantages"] none. Without
    a baseline there is no value term. `hyper` holds ent_coef and vf_coef. Returns (loss, metrics).
    REINFORCE uses it with reward-to-go, A2C with n-step returns.
    """
    mask = batch["mask"]
    advantages = normalized(batch["advantages"], mask) if norm_adv else batch["advantages"]
    policy_loss = -masked_mean(log_prob * advantages, mask)
    value_loss = 0.5 * masked_mean((batch["returns"] - value) ** 2, mask)
    entropy_mean = masked_mean(entropy, mask)

    loss = policy_loss - hyper.ent_coef * entropy_mean
    if baseline:
        loss = loss + hyper.vf_coef * value_loss
    metrics = {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy_mean,
        "learned_fraction": jnp.mean(mask.astype(jnp.float32)),  # share of the rollout in the loss
    }
    return loss, metrics
