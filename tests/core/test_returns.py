"""GAE against hand-computed values and a plain NumPy loop; TD(lambda) returns (PQN's Q(lambda)
targets) by hand."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.core.returns import gae, lambda_returns, masked_mean, next_values


def numpy_gae(reward, value, next_value, terminated, done, gamma, lam):
    advantages = np.zeros_like(reward)
    running = np.zeros(reward.shape[1:])
    for t in reversed(range(reward.shape[0])):
        delta = reward[t] + gamma * (1 - terminated[t]) * next_value[t] - value[t]
        running = delta + gamma * lam * (1 - done[t]) * running
        advantages[t] = running
    return advantages


def test_gae_single_step_is_td_error():
    adv, ret = gae(
        jnp.array([[1.0]]),
        jnp.array([[2.0]]),
        jnp.array([[3.0]]),
        jnp.array([[False]]),
        jnp.array([[False]]),
        0.9,
        0.95,
    )
    np.testing.assert_allclose(adv, [[1.0 + 0.9 * 3.0 - 2.0]], rtol=1e-6)
    np.testing.assert_allclose(ret, [[1.0 + 0.9 * 3.0]], rtol=1e-6)


def test_gae_hand_computed_two_steps():
    # A_1 = r1 + g V2 - V1 = 1 + 0.5*4 - 3 = 0;  A_0 = (r0 + g V1 - V0) + g l A_1 = (0 + 1.5 - 1) + 0 = 0.5
    reward = jnp.array([[0.0], [1.0]])
    value = jnp.array([[1.0], [3.0]])
    nxt = next_values(value, jnp.array([4.0]))
    no = jnp.zeros((2, 1), bool)
    adv, _ = gae(reward, value, nxt, no, no, 0.5, 0.5)
    np.testing.assert_allclose(adv[:, 0], [0.5, 0.0])


def test_gae_does_not_bootstrap_through_termination():
    # Step 0 terminates: A_0 = r0 - V0 exactly, whatever V(s_1) and later advantages are.
    reward = jnp.array([[1.0], [5.0]])
    value = jnp.array([[0.25], [7.0]])
    nxt = jnp.array([[100.0], [9.0]])
    terminated = jnp.array([[True], [False]])
    adv, ret = gae(reward, value, nxt, terminated, terminated, 0.99, 0.95)
    assert float(adv[0, 0]) == pytest.approx(1.0 - 0.25)
    assert float(ret[0, 0]) == pytest.approx(1.0)


def test_gae_bootstraps_on_truncation_but_stops_the_recursion():
    # Step 0 is truncated: bootstrap from V(s_1) (the real last obs), but A_1 must not leak into A_0.
    reward = jnp.array([[1.0], [5.0]])
    value = jnp.array([[0.0], [7.0]])
    nxt = jnp.array([[10.0], [9.0]])
    truncated = jnp.array([[True], [False]])
    adv, _ = gae(reward, value, nxt, jnp.zeros_like(truncated), truncated, 0.9, 0.95)
    assert float(adv[0, 0]) == pytest.approx(1.0 + 0.9 * 10.0)


def test_gae_reset_step_does_not_reach_the_previous_episode():
    # t=1 ends the episode; t=2 is EnvPool's reset step (garbage transition, masked in the loss).
    # Its advantage must not flow into t=1 or t=0.
    reward = jnp.array([[1.0], [1.0], [0.0], [1.0]])
    value = jnp.array([[0.5], [0.5], [123.0], [0.5]])
    nxt = next_values(value, jnp.array([0.5]))
    terminated = jnp.array([[False], [True], [False], [False]])
    adv, _ = gae(reward, value, nxt, terminated, terminated, 0.9, 0.8)
    a1 = 1.0 - 0.5
    a0 = (1.0 + 0.9 * 0.5 - 0.5) + 0.9 * 0.8 * a1
    np.testing.assert_allclose(adv[:2, 0], [a0, a1], rtol=1e-6)


def test_gae_matches_numpy_loop_on_random_rollout():
    rng = np.random.default_rng(0)
    T, E = 37, 5
    reward = rng.normal(size=(T, E)).astype(np.float32)
    value = rng.normal(size=(T, E)).astype(np.float32)
    last = rng.normal(size=E).astype(np.float32)
    terminated = rng.random((T, E)) < 0.1
    truncated = (rng.random((T, E)) < 0.05) & ~terminated
    done = terminated | truncated
    nxt = np.asarray(next_values(jnp.asarray(value), jnp.asarray(last)))
    adv, ret = gae(reward, value, nxt, terminated, done, 0.97, 0.9)
    expected = numpy_gae(reward, value, nxt, terminated.astype(np.float32), done.astype(np.float32), 0.97, 0.9)
    np.testing.assert_allclose(adv, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ret, expected + value, rtol=1e-5, atol=1e-5)


def test_masked_mean_ignores_masked_entries_and_empty_mask():
    assert float(masked_mean(jnp.array([1.0, 100.0, 3.0]), jnp.array([True, False, True]))) == 2.0
    assert float(masked_mean(jnp.array([1.0]), jnp.array([False]))) == 0.0


def test_lambda_returns_by_hand_cut_at_termination_bootstrap_at_truncation_and_skip_reset_steps():
    # One env, 7 steps: t=1 terminates, t=4 is truncated, t=2 and t=5 are EnvPool's reset steps
    # (reward 100 there, to show that nothing of them reaches the episode before), t=6 ends the
    # rollout. next_value[t] = V(s_{t+1}): 8 is the terminal observation's, never used; 10 the
    # truncated episode's last observation; 2 the observation after the rollout.
    reward = jnp.array([1.0, 1.0, 100.0, 1.0, 1.0, 100.0, 1.0])[:, None]
    next_value = jnp.array([2.0, 8.0, 4.0, 4.0, 10.0, 3.0, 2.0])[:, None]
    terminated = jnp.array([False, True, False, False, False, False, False])[:, None]
    truncated = jnp.array([False, False, False, False, True, False, False])[:, None]
    returns = lambda_returns(reward, next_value, terminated, terminated | truncated, gamma=0.5, td_lambda=0.5)
    g6 = 1 + 0.5 * 2  # the rollout's end bootstraps fully: 2
    g4 = 1 + 0.5 * 10  # truncated: r + gamma V(last obs) = 6, nothing of the reset step after it
    g3 = 1 + 0.5 * (0.5 * 4 + 0.5 * g4)  # r + gamma ((1 - lambda) V + lambda G_4) = 3.5
    g1 = 1.0  # terminated: the reward alone
    g0 = 1 + 0.5 * (0.5 * 2 + 0.5 * g1)  # 1.75
    valid = [0, 1, 3, 4, 6]
    np.testing.assert_allclose(returns[valid, 0], [g0, g1, g3, g4, g6], rtol=1e-6)


def test_lambda_returns_equal_gae_returns_and_one_step_targets_at_lambda_0():
    rng = np.random.default_rng(1)
    T, E = 29, 4
    reward, value = rng.normal(size=(2, T, E)).astype(np.float32)
    last = rng.normal(size=E).astype(np.float32)
    terminated = rng.random((T, E)) < 0.1
    done = terminated | (rng.random((T, E)) < 0.05)
    nxt = next_values(jnp.asarray(value), jnp.asarray(last))
    _, gae_returns = gae(reward, value, nxt, terminated, done, 0.97, 0.8)
    np.testing.assert_allclose(lambda_returns(reward, nxt, terminated, done, 0.97, 0.8), gae_returns, atol=1e-5)
    one_step = reward + 0.97 * (1 - terminated) * nxt
    np.testing.assert_allclose(lambda_returns(reward, nxt, terminated, done, 0.97, 0.0), one_step, atol=1e-6)
