"""Epsilon-greedy acting and its linear schedule: what the Q-learners (DQN, PQN) share."""

import jax
import jax.numpy as jnp


def epsilon_at(env_steps, hyper, total_steps: int):
    """Linear decay from `hyper.start_e` to `hyper.end_e` over the first
    `hyper.exploration_fraction` of total_steps, then `end_e`."""
    duration = hyper.exploration_fraction * total_steps
    progress = jnp.clip(env_steps / jnp.maximum(duration, 1.0), 0.0, 1.0)
    return hyper.start_e + progress * (hyper.end_e - hyper.start_e)


def epsilon_greedy(key, q_values, epsilon):
    """[E] int32 actions from Q-values [E, A]: uniform with probability epsilon, else greedy."""
    explore_key, action_key = jax.random.split(key)
    greedy = jnp.argmax(q_values, axis=-1)
    random = jax.random.randint(action_key, greedy.shape, 0, q_values.shape[-1])
    explore = jax.random.uniform(explore_key, greedy.shape) < epsilon
    return jnp.where(explore, random, greedy).astype(jnp.int32)
