"""Episode returns and lengths, tracked inside jit for a vector of envs.

A reported episode is a whole game: with Atari's episodic life, a life loss ends the
agent's episode (for bootstrapping) but not the game, so returns add up over all lives and
use the unclipped reward.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

# The metric of a tag of Step.episode_info: its sum over an iteration's ended episodes, [P]
# (jaxrl.training.hooks.episode_info turns it into the mean under the tag itself).
EPISODE_SUM = "episode_sum:"


class EpisodeStats(NamedTuple):
    running_return: jax.Array  # [E] float32, unclipped reward summed over the current game
    running_length: jax.Array  # [E] int32, agent steps in the current game


class EndedEpisodes(NamedTuple):
    ended: jax.Array  # [E] bool, a game ended on this step
    episode_return: jax.Array  # [E] float32, its return where ended, else 0
    episode_length: jax.Array  # [E] int32, its length where ended, else 0
    info: Any = ()  # {tag: [E] float32}: what the env reported about it where ended, else 0


def init_stats(num_envs: int) -> EpisodeStats:
    return EpisodeStats(jnp.zeros(num_envs, jnp.float32), jnp.zeros(num_envs, jnp.int32))


def update_stats(
    stats: EpisodeStats, game_reward: jax.Array, game_over: jax.Array, counted: jax.Array, episode_info: Any = ()
) -> tuple[EpisodeStats, EndedEpisodes]:
    """Adds one step. `counted` is False on EnvPool's reset steps, which are not part of a game;
    `episode_info` (Step.episode_info) is kept where a game ended."""
    episode_return = stats.running_return + game_reward
    episode_length = stats.running_length + counted.astype(jnp.int32)
    ended = EndedEpisodes(
        ended=game_over,
        episode_return=jnp.where(game_over, episode_return, 0.0),
        episode_length=jnp.where(game_over, episode_length, 0),
        info=jax.tree.map(lambda value: jnp.where(game_over, value, 0.0), episode_info),
    )
    carry = EpisodeStats(
        running_return=jnp.where(game_over, 0.0, episode_return),
        running_length=jnp.where(game_over, 0, episode_length),
    )
    return carry, ended


class RecentReturns(NamedTuple):
    """The last `window` finished episodes of one population member, in a ring."""

    returns: jax.Array  # [window] float32
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count; checkpoints are keyed by this name. int32, episodes finished so far


def init_recent(window: int = 20) -> RecentReturns:
    return RecentReturns(jnp.zeros(window, jnp.float32), jnp.zeros((), jnp.int32))


def push_recent(recent: RecentReturns, ended: jax.Array, returns: jax.Array) -> RecentReturns:
    """Appends the returns where `ended` ([N] in time order) to the ring, oldest dropped first."""
    window = recent.returns.shape[0]
    rank = jnp.cumsum(ended) - 1  # order among this call's finished episodes
    num_new = ended.sum()
    keep = ended & (rank >= num_new - window)  # only the newest `window` can survive
    slot = jnp.where(keep, (recent.count + rank) % window, window)  # window = out of range
    ring = recent.returns.at[slot].set(returns, mode="drop")
    return RecentReturns(ring, recent.count + num_new)


def recent_mean(recent: RecentReturns) -> jax.Array:
    """Mean of the last `window` finished episodes; NaN before the first one."""
    window = recent.returns.shape[0]
    filled = jnp.minimum(recent.count, window)
    valid = jnp.arange(window) < filled
    return jnp.where(filled > 0, jnp.sum(recent.returns * valid) / jnp.maximum(filled, 1), jnp.nan)
