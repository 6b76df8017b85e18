"""V-trace on a hand-computed rollout, and on-policy equal to the returns jaxrl already has."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.core.returns import gae, lambda_returns, next_values
from jaxrl.core.vtrace import vtrace

# T = 3, one env, gamma 0.9; pi/mu = 2, 0.5, 1: truncated to rho = c = 1, 0.5, 1 (lambda 1)
REWARD = jnp.array([[1.0], [0.0], [2.0]])
VALUE = jnp.array([[0.5], [1.0], [0.2]])
NEXT_VALUE = jnp.array([[1.0], [0.2], [0.4]])
LOG_RHO = jnp.log(jnp.array([[2.0], [0.5], [1.0]]))


def test_vtrace_by_hand_inside_one_episode():
    never = jnp.zeros((3, 1), bool)
    targets, advantages = vtrace(REWARD, VALUE, NEXT_VALUE, never, never, LOG_RHO, 0.9, 1.0)
    # delta = rho (r + 0.9 V' - V): 1 (1 + 0.9 - 0.5) = 1.4;  0.5 (0 + 0.18 - 1) = -0.41;  2 + 0.36 - 0.2 = 2.16
    # A_2 = 2.16;  A_1 = -0.41 + 0.9 * 0.5 * 2.16 = 0.562;  A_0 = 1.4 + 0.9 * 1 * 0.562 = 1.9058
    np.testing.assert_allclose(targets[:, 0], [0.5 + 1.9058, 1.0 + 0.562, 0.2 + 2.16], rtol=1e-6)
    # rho_t (r_t + 0.9 v_{t+1} - V_t), v_3 = V(s_3) = 0.4:
    # 1 (1 + 0.9 * 1.562 - 0.5) = 1.9058;  0.5 (0 + 0.9 * 2.36 - 1) = 0.562;  2 + 0.36 - 0.2 = 2.16
    np.testing.assert_allclose(advantages[:, 0], [1.9058, 0.562, 2.16], rtol=1e-6)


def test_vtrace_by_hand_across_a_termination_and_with_lambda():
    ended = jnp.array([[False], [True], [False]])  # s_2 is terminal: nothing after it reaches t <= 1
    targets, advantages = vtrace(REWARD, VALUE, NEXT_VALUE, ended, ended, LOG_RHO, 0.9, 1.0)
    # delta_1 = 0.5 (0 - 1) = -0.5 = A_1;  A_0 = 1.4 + 0.9 * (-0.5) = 0.95;  A_2 = 2.16
    np.testing.assert_allclose(targets[:, 0], [1.45, 0.5, 2.36], rtol=1e-6)
    # t=1: 0.5 (0 - 1) = -0.5 (no bootstrap);  t=0: 1 + 0.9 * (1 + (-0.5)) - 0.5 = 0.95
    np.testing.assert_allclose(advantages[:, 0], [0.95, -0.5, 2.16], rtol=1e-6)
    # lambda 0.5 halves every c: A_1 = -0.41 + 0.9 * 0.25 * 2.16 = 0.076;  A_0 = 1.4 + 0.9 * 0.5 * 0.076
    never = jnp.zeros((3, 1), bool)
    targets, _ = vtrace(REWARD, VALUE, NEXT_VALUE, never, never, LOG_RHO, 0.9, 0.5)
    np.testing.assert_allclose(targets[:, 0], [0.5 + 1.4342, 1.0 + 0.076, 0.2 + 2.16], rtol=1e-5)


def random_rollout(seed: int, steps: int = 16, envs: int = 5):
    keys = jax.random.split(jax.random.PRNGKey(seed), 5)
    reward = jax.random.normal(keys[0], (steps, envs))
    value = jax.random.normal(keys[1], (steps, envs))
    last_value = jax.random.normal(keys[2], (envs,))
    terminated = jax.random.uniform(keys[3], (steps, envs)) < 0.15
    truncated = ~terminated & (jax.random.uniform(keys[4], (steps, envs)) < 0.1)
    return reward, value, next_values(value, last_value), terminated, terminated | truncated


def test_on_policy_vtrace_is_gae_and_lambda_returns():
    reward, value, next_value, terminated, done = random_rollout(0)
    on_policy = jnp.zeros_like(reward)
    for td_lambda in (1.0, 0.8, 0.0):
        targets, advantages = vtrace(reward, value, next_value, terminated, done, on_policy, 0.97, td_lambda)
        gae_advantages, gae_returns = gae(reward, value, next_value, terminated, done, 0.97, td_lambda)
        np.testing.assert_allclose(targets, gae_returns, rtol=1e-5, atol=1e-5)
        returns = lambda_returns(reward, next_value, terminated, done, 0.97, td_lambda)
        np.testing.assert_allclose(targets, returns, rtol=1e-5, atol=1e-5)
        if td_lambda == 1.0:  # the n-step returns: V-trace's advantages are A2C's
            np.testing.assert_allclose(advantages, gae_advantages, rtol=1e-5, atol=1e-5)


def test_off_policy_weights_are_truncated_at_one():
    reward, value, next_value, terminated, done = random_rollout(1)
    big = jnp.full_like(reward, 3.0)  # pi/mu = e^3: clipped to rho = c = 1, the on-policy case
    assert np.allclose(
        vtrace(reward, value, next_value, terminated, done, big, 0.97, 1.0)[0],
        vtrace(reward, value, next_value, terminated, done, jnp.zeros_like(big), 0.97, 1.0)[0],
    )
    small = jnp.full_like(reward, -1e9)  # pi/mu = 0: no correction, the targets are V itself
    targets, advantages = vtrace(reward, value, next_value, terminated, done, small, 0.97, 1.0)
    np.testing.assert_allclose(targets, value)
    np.testing.assert_allclose(advantages, 0.0)
