"""Episode accounting: the jitted statistics against scripted streams and a plain recount of
the raw per-step rewards and done flags of the same EnvPool rollout."""

import envpool
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.core.episodes import init_recent, init_stats, push_recent, recent_mean, update_stats
from jaxrl.envs import env_seeds, make_env


def test_update_stats_scripted_stream_with_simultaneous_ends_and_truncation():
    stats = init_stats(3)
    stream = [  # (reward, game_over, counted) for 3 envs
        ([1.0, 2.0, 3.0], [False, False, False], [True, True, True]),
        ([1.0, 2.0, 3.0], [True, True, False], [True, True, True]),  # two end at once
        ([0.0, 0.0, 3.0], [False, False, True], [False, False, True]),  # reset steps; env 2 truncated
        ([5.0, 1.0, 0.0], [False, False, False], [True, True, False]),
    ]
    ended_log = []
    for reward, over, counted in stream:
        stats, ended = update_stats(stats, jnp.array(reward), jnp.array(over), jnp.array(counted))
        ended_log.append(jax.device_get(ended))
    np.testing.assert_array_equal(ended_log[1].ended, [True, True, False])
    np.testing.assert_allclose(ended_log[1].episode_return, [2.0, 4.0, 0.0])
    np.testing.assert_array_equal(ended_log[1].episode_length, [2, 2, 0])
    np.testing.assert_allclose(ended_log[2].episode_return, [0.0, 0.0, 9.0])
    np.testing.assert_array_equal(ended_log[2].episode_length, [0, 0, 3])
    # nothing carries over after an end, truncation included
    np.testing.assert_allclose(stats.running_return, [5.0, 1.0, 0.0])
    np.testing.assert_array_equal(stats.running_length, [1, 1, 0])


def test_recent_returns_keep_the_newest_in_order_of_arrival():
    recent = init_recent(window=3)
    assert np.isnan(recent_mean(recent))
    recent = push_recent(recent, jnp.array([True, False, True]), jnp.array([1.0, 99.0, 2.0]))
    assert float(recent_mean(recent)) == pytest.approx(1.5)
    # five at once into a window of 3: only the newest three survive
    recent = push_recent(recent, jnp.ones(5, bool), jnp.array([10.0, 20.0, 30.0, 40.0, 50.0]))
    assert int(recent.count) == 7
    assert float(recent_mean(recent)) == pytest.approx(40.0)
    recent = push_recent(recent, jnp.array([False, True]), jnp.array([0.0, 70.0]))
    assert float(recent_mean(recent)) == pytest.approx((40.0 + 50.0 + 70.0) / 3)


def jitted_episodes(env, actions):
    """Steps `env` with fixed actions [T, N] inside jit; returns the statistics' ended episodes [T, N]."""
    handle, _ = env.reset()

    def body(carry, action):
        handle, stats, prev_done = carry
        handle, step = env.step(handle, action)
        stats, ended = update_stats(stats, step.game_reward, step.game_over, ~prev_done)
        return (handle, stats, step.terminated | step.truncated), ended

    carry = (handle, init_stats(env.num_envs), jnp.zeros(env.num_envs, bool))
    _, ended = jax.jit(lambda c: jax.lax.scan(body, c, actions))(carry)
    return jax.device_get(ended)


def recount(pool, actions, atari):
    """Plain Python over the host API of an identical pool: [(env, return, length, lives_lost, clipped)]."""
    pool.reset()
    n = actions.shape[1]
    ret, clipped, length, lives_lost = np.zeros(n), np.zeros(n), np.zeros(n, int), np.zeros(n, int)
    prev_done = np.zeros(n, bool)
    episodes = []
    for action in actions:
        _, reward, terminated, truncated, info = pool.step(np.asarray(action))
        for i in range(n):
            if not prev_done[i]:  # the step after a done is EnvPool's reset step, not part of a game
                length[i] += 1
            ret[i] += info["reward"][i] if atari else reward[i]
            clipped[i] += reward[i]
            game_over = (info["terminated"][i] if atari else terminated[i]) or truncated[i]
            if atari and terminated[i] and not game_over:
                lives_lost[i] += 1
            if game_over:
                episodes.append((i, ret[i], length[i], lives_lost[i], clipped[i]))
                if not atari:
                    assert length[i] == info["elapsed_step"][i]
                ret[i], clipped[i], length[i], lives_lost[i] = 0.0, 0.0, 0, 0
        prev_done = terminated | truncated
    return episodes


def reported(ended):
    steps, envs = np.nonzero(ended.ended)
    order = np.lexsort((envs, steps))
    return [(envs[k], ended.episode_return[steps[k], envs[k]], ended.episode_length[steps[k], envs[k]]) for k in order]


def assert_same_episodes(ended, episodes):
    got = reported(ended)
    assert len(got) == len(episodes) > 0
    for (env_got, ret_got, len_got), (env_exp, ret_exp, len_exp, *_) in zip(got, episodes, strict=True):
        assert env_got == env_exp
        assert ret_got == pytest.approx(ret_exp)
        assert len_got == len_exp


def test_cartpole_episode_stats_equal_recount():
    seeds = env_seeds(0, 4)
    actions = np.random.default_rng(0).integers(0, 2, (400, 4)).astype(np.int32)
    env = make_env("CartPole-v1", seeds)
    ended = jitted_episodes(env, jnp.asarray(actions))
    pool = envpool.make("CartPole-v1", env_type="gymnasium", num_envs=4, seed=seeds)
    episodes = recount(pool, actions, atari=False)
    assert_same_episodes(ended, episodes)
    assert all(ret == length for _, ret, length, *_ in episodes)  # +1 per step


ATARI_POOL = dict(
    env_type="gymnasium", episodic_life=True, reward_clip=True, noop_max=30, repeat_action_probability=0.0
)


@pytest.mark.slow
@pytest.mark.parametrize("env_id, steps", [("Pong-v5", 1000), ("SpaceInvaders-v5", 1200)])
def test_atari_episode_stats_are_whole_unclipped_games(env_id, steps):
    seeds = env_seeds(0, 2)
    pool = envpool.make(env_id, num_envs=2, seed=seeds, **ATARI_POOL)
    actions = np.random.default_rng(1).integers(0, pool.action_space.n, (steps, 2)).astype(np.int32)
    env = make_env(env_id, seeds)
    ended = jitted_episodes(env, jnp.asarray(actions))
    episodes = recount(pool, actions, atari=True)
    assert_same_episodes(ended, episodes)
    if env_id == "SpaceInvaders-v5":
        # a reported game spans several lives, and its return is in raw points (5 to 30 each), not clipped
        assert any(lost >= 1 for _, _, _, lost, _ in episodes)
        assert any(ret > clipped for _, ret, _, _, clipped in episodes)
