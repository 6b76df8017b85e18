"""Running statistics equal the mean and variance of everything seen, masked steps left out; reward
scaling divides by the std of the discounted return, which restarts after each episode end."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.core import normalization


def test_running_stats_of_batches_equal_the_statistics_of_all_unmasked_samples():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, (n, 2)).astype(np.float32) for n in (5, 17, 1, 40)]
    masks = [rng.random(len(b)) < 0.8 for b in batches]
    stats = normalization.init_stats((2,))
    for batch, mask in zip(batches, masks, strict=True):
        stats = normalization.update(stats, jnp.asarray(batch), jnp.asarray(mask))
    seen = np.concatenate([b[m] for b, m in zip(batches, masks, strict=True)])
    prior = normalization.PRIOR_COUNT  # the prior: mean 0, variance 1, weighing 1e-4 samples
    total = len(seen) + prior
    mean = seen.sum(axis=0) / total
    var = (((seen - mean) ** 2).sum(axis=0) + prior * (1.0 + mean**2)) / total
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-5)
    np.testing.assert_allclose(stats.var, var, rtol=1e-4)
    assert float(stats.count) == pytest.approx(total)


def test_an_all_masked_batch_changes_nothing():
    stats = normalization.update(normalization.init_stats((3,)), jnp.ones((4, 3)), jnp.ones(4, bool))
    again = normalization.update(stats, jnp.full((4, 3), 1e6), jnp.zeros(4, bool))
    for before, after in zip(stats, again, strict=True):
        np.testing.assert_allclose(before, after)


def test_normalize_centres_scales_and_clips_at_10():
    stats = normalization.RunningStats(jnp.array([1.0, -2.0]), jnp.array([4.0, 0.01]), jnp.float32(10))
    out = normalization.normalize(stats, jnp.array([[3.0, 5.0]]))
    np.testing.assert_allclose(out, [[1.0, 10.0]], rtol=1e-5)  # (3 - 1) / 2;  (5 + 2) / 0.1 = 70, clipped


def test_rewards_are_divided_by_the_std_of_the_discounted_return_restarting_after_done():
    # one env: rewards 1, 1 | done | 2 (a new episode), gamma 0.5: G = 1, 1.5, then 2 after the end
    reward = jnp.array([[1.0], [1.0], [2.0]])
    done = jnp.array([[False], [True], [False]])
    valid = jnp.ones((3, 1), bool)
    scale = normalization.init_reward_scale(1)
    scaled, scale = normalization.scale_rewards(scale, reward, done, valid, gamma=0.5)
    returns = np.array([1.0, 1.5, 2.0])
    prior = normalization.PRIOR_COUNT
    mean = returns.sum() / (3 + prior)
    var = (((returns - mean) ** 2).sum() + prior * (1 + mean**2)) / (3 + prior)
    np.testing.assert_allclose(scaled[:, 0], np.asarray(reward)[:, 0] / np.sqrt(var + 1e-8), rtol=1e-5)
    np.testing.assert_allclose(scale.returns, [2.0])  # the episode in progress carries into the next rollout
    # the next rollout continues it: G = 0.5 * 2 + 4 = 5
    _, scale = normalization.scale_rewards(scale, jnp.array([[4.0]]), jnp.array([[False]]), jnp.ones((1, 1), bool), 0.5)
    np.testing.assert_allclose(scale.returns, [5.0])
