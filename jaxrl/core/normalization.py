"""Running statistics that rescale what an agent sees: observations by their running mean and
std, rewards by the running std of the discounted return (gymnasium's NormalizeObservation and
NormalizeReward, as CleanRL's continuous PPO uses them, with their constants).

They are arrays in the learning state, so each population member keeps its own, checkpoints hold
them and evaluation acts through them. They change only in `learn`, from a whole rollout: every
action of a rollout is taken through the same statistics, and learning reads the rollout's
observations through those too, so the first epoch's probability ratio is exactly 1.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

CLIP = 10.0  # normalised observations and scaled rewards are clipped to [-10, 10]
EPSILON = 1e-8  # inside the square root of the variance
PRIOR_COUNT = 1e-4  # the count the prior (mean 0, variance 1) weighs as


class RunningStats(NamedTuple):
    mean: jax.Array  # [*shape] float32
    var: jax.Array  # [*shape] float32: the population variance of everything seen
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count; checkpoints are keyed by this name. float32 scalar


def init_stats(shape: tuple[int, ...]) -> RunningStats:
    return RunningStats(jnp.zeros(shape, jnp.float32), jnp.ones(shape, jnp.float32), jnp.float32(PRIOR_COUNT))


def update(stats: RunningStats, x: jax.Array, mask: jax.Array) -> RunningStats:
    """The statistics with the samples x [N, *shape] where mask [N] merged in (Chan et al.'s
    parallel variance: exact, whatever the batch sizes)."""
    weight = mask.astype(jnp.float32).reshape(-1, *[1] * (x.ndim - 1))
    batch_count = jnp.sum(mask.astype(jnp.float32))
    safe_count = jnp.maximum(batch_count, 1.0)
    batch_mean = jnp.sum(x * weight, axis=0) / safe_count
    batch_var = jnp.sum((x - batch_mean) ** 2 * weight, axis=0) / safe_count
    total = stats.count + batch_count
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * batch_count / total
    m2 = stats.var * stats.count + batch_var * batch_count + delta**2 * stats.count * batch_count / total
    return RunningStats(mean, m2 / total, total)


def normalize(stats: RunningStats, x: jax.Array) -> jax.Array:
    """(x - mean) / std, clipped to [-CLIP, CLIP]; x [..., *shape]."""
    return jnp.clip((x.astype(jnp.float32) - stats.mean) / jnp.sqrt(stats.var + EPSILON), -CLIP, CLIP)


class RewardScale(NamedTuple):
    returns: jax.Array  # [E] the discounted return of each env's episode so far
    stats: RunningStats  # of those discounted returns (scalars)


def init_reward_scale(num_envs: int) -> RewardScale:
    return RewardScale(jnp.zeros(num_envs, jnp.float32), init_stats(()))


def scale_rewards(scale: RewardScale, reward, done, valid, gamma) -> tuple[jax.Array, RewardScale]:
    """Rewards [T, E] divided by the running std of the discounted return G_t = r_t + gamma G_{t-1}
    (restarting after each episode end, `done`), and clipped to [-CLIP, CLIP]; the statistics take
    in this rollout's G_t first (the steps where `valid`). Returns (scaled rewards, new scale)."""

    def forward(running, step):
        reward_t, done_t = step
        returns_t = gamma * running + reward_t
        return jnp.where(done_t, 0.0, returns_t), returns_t

    running, returns = jax.lax.scan(forward, scale.returns, (reward, done))
    stats = update(scale.stats, returns.reshape(-1), valid.reshape(-1))
    scaled = jnp.clip(reward / jnp.sqrt(stats.var + EPSILON), -CLIP, CLIP)
    return scaled, RewardScale(running, stats)
