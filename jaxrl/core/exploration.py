"""Epsilon-greedy acting and its linear schedule: what the Q-learners (DQN, PQN) share."""

import jax
import jax.numpy as jnp

from jaxrl.core.distributions import masked_argmax, masked_logits


def epsilon_at(env_steps, hyper, total_steps: int):
    """Linear decay from `hyper.start_e` to `hyper.end_e` over the first
    `hyper.exploration_fraction` of total_steps, then `end_e`."""
    duration = hyper.exploration_fraction * total_steps
    progress = jnp.clip(env_steps / jnp.maximum(duration, 1.0), 0.0, 1.0)
    return hyper.start_e + progress * (hyper.end_e - hyper.start_e)


def epsilon_greedy(key, q_values, epsilon, mask=None):
    """[E] int32 actions from Q-values [E, A]: uniform with probability epsilon, else greedy; with
    `mask` [E, A] (False: illegal), both over the legal actions only."""
    explore_key, action_key = jax.random.split(key)
    greedy = masked_argmax(q_values, mask)
    if mask is None:  # the unmasked draw as it always was: a run's numbers do not change
        random = jax.random.randint(action_key, greedy.shape, 0, q_values.shape[-1])
    else:
        random = jax.random.categorical(action_key, masked_logits(jnp.zeros_like(q_values), mask))
    explore = jax.random.uniform(explore_key, greedy.shape) < epsilon
    return jnp.where(explore, random, greedy).astype(jnp.int32)
