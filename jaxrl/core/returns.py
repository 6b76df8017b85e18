"""Return and advantage estimators over a rollout [T, E], written for one population member.

Conventions shared by every estimator here: `terminated[t]` means s_{t+1} is terminal (no
bootstrap); `done[t] = terminated[t] | truncated[t]` means an episode boundary follows step t,
so nothing flows backwards across it. On truncation the value of s_{t+1} (the real last
observation, which EnvPool returns on the done step) is bootstrapped.
"""

import jax
import jax.numpy as jnp


def next_values(value: jax.Array, last_value: jax.Array) -> jax.Array:
    """V(s_{t+1}) for every t: obs_{t+1} is the input of step t+1 (on a done step, the terminal obs)."""
    return jnp.concatenate([value[1:], last_value[None]], axis=0)


def gae(reward, value, next_value, terminated, done, gamma, gae_lambda):
    """Generalised advantage estimation (Schulman et al., 2016); returns (advantages, returns).

    delta_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t)
    A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}
    """
    not_terminated = 1.0 - terminated.astype(jnp.float32)
    not_done = 1.0 - done.astype(jnp.float32)
    delta = reward + gamma * not_terminated * next_value - value

    def backward(next_advantage, step):
        delta_t, not_done_t = step
        advantage = delta_t + gamma * gae_lambda * not_done_t * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(delta[0]), (delta, not_done), reverse=True)
    return advantages, advantages + value


def masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    mask = mask.astype(x.dtype)
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def reward_to_go(reward, next_value, terminated, done, gamma):
    """Discounted reward-to-go (Monte Carlo return) of every step, summed inside the rollout.

    G_t = r_t + gamma * (1 - done_t) * G_{t+1} + gamma * (done_t - terminated_t) * V(s_{t+1}),    G_T = 0

    so G_t adds the rewards up to the end of t's episode, bootstrapping from `next_value` only where
    that episode was truncated. Steps after an env's last boundary in the rollout stop at the rollout
    end instead: their sums are incomplete (see `episode_ends_in_rollout`).
    """
    truncated = done.astype(jnp.float32) - terminated.astype(jnp.float32)
    not_done = 1.0 - done.astype(jnp.float32)

    def backward(next_return, step):
        reward_t, next_value_t, truncated_t, not_done_t = step
        return_t = reward_t + gamma * (not_done_t * next_return + truncated_t * next_value_t)
        return return_t, return_t

    _, returns = jax.lax.scan(
        backward, jnp.zeros_like(reward[0]), (reward, next_value, truncated, not_done), reverse=True
    )
    return returns


def episode_ends_in_rollout(done: jax.Array) -> jax.Array:
    """[T, E] bool: an episode boundary follows step t at t or later inside the rollout, so the
    reward-to-go of step t is complete (nothing after the rollout end belongs to its episode)."""
    return jax.lax.cummax(done.astype(jnp.int32), axis=0, reverse=True) > 0


def lambda_returns(reward, next_value, terminated, done, gamma, td_lambda):
    """TD(lambda) returns of every step, computed backwards from the rollout's end; all [T, E].

    G_t = r_t + gamma (1 - terminated_t) [V(s_{t+1}) + lambda (1 - done_t) (G_{t+1} - V(s_{t+1}))],
    G_T = V(s_T)

    i.e. r_t + gamma ((1 - lambda) V(s_{t+1}) + lambda G_{t+1}) inside an episode: a terminated step
    returns r_t, a truncated one r_t + gamma V(s_{t+1}) (its last observation), and nothing flows
    back across a boundary, so EnvPool's reset step never reaches the episode before it. The last
    step of the rollout bootstraps from V of the observation after it. With V(s) = max_a Q(s, a)
    these are Peng's Q(lambda) targets (PQN); they equal GAE's `returns` for the same V.
    """
    not_terminated = 1.0 - terminated.astype(jnp.float32)
    not_done = 1.0 - done.astype(jnp.float32)

    def backward(next_return, step):
        reward_t, next_value_t, not_terminated_t, not_done_t = step
        tail = next_value_t + td_lambda * not_done_t * (next_return - next_value_t)
        return_t = reward_t + gamma * not_terminated_t * tail
        return return_t, return_t

    _, returns = jax.lax.scan(backward, next_value[-1], (reward, next_value, not_terminated, not_done), reverse=True)
    return returns
