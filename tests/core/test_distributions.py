"""Policy distributions on hand values: the diagonal Gaussian's log-density and entropy, and the
tanh-squashed Gaussian's change of variables, against SciPy and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxrl.core import distributions


def test_gaussian_log_prob_sums_the_components_log_densities():
    mean, log_std = jnp.array([[0.0, 1.0]]), jnp.log(jnp.array([[1.0, 2.0]]))
    action = jnp.array([[0.5, -1.0]])
    # log N(0.5; 0, 1) + log N(-1; 1, 2) = (-0.125 - 0.9189) + (-0.5 - log 2 - 0.9189)
    expected = -0.125 - 0.5 - np.log(2.0) - np.log(2 * np.pi)
    assert float(distributions.gaussian_log_prob(mean, log_std, action)[0]) == pytest.approx(expected, abs=1e-6)
    scipy = stats.norm(0.0, 1.0).logpdf(0.5) + stats.norm(1.0, 2.0).logpdf(-1.0)
    assert expected == pytest.approx(scipy, abs=1e-12)


def test_gaussian_entropy_is_half_log_2_pi_e_sigma_squared_per_component():
    log_std = jnp.log(jnp.array([[1.0, 0.5, 3.0]]))
    expected = sum(stats.norm(0.0, s).entropy() for s in (1.0, 0.5, 3.0))
    assert float(distributions.gaussian_entropy(log_std)[0]) == pytest.approx(expected, abs=1e-5)


def test_diagonal_gaussian_head_samples_around_the_mean_with_its_std():
    out = (jnp.full((20_000, 2), 3.0), jnp.log(jnp.full((20_000, 2), 0.5)))
    samples = np.asarray(distributions.DIAGONAL_GAUSSIAN.sample(out, jax.random.PRNGKey(0)))
    np.testing.assert_allclose(samples.mean(axis=0), 3.0, atol=0.02)
    np.testing.assert_allclose(samples.std(axis=0), 0.5, atol=0.02)
    assert distributions.DIAGONAL_GAUSSIAN.preference(out) is out[0]


def test_log_one_minus_tanh_squared_is_exact_where_tanh_saturates():
    u = jnp.array([0.0, 0.5, -3.0, 20.0, -40.0])
    expected = np.log1p(-(np.tanh(np.array([0.0, 0.5, -3.0]).astype(np.float64)) ** 2))
    np.testing.assert_allclose(distributions.log_one_minus_tanh_squared(u)[:3], expected, rtol=1e-5)
    # tanh(u)^2 rounds to 1 in float32 there, log(1 - 1) would be -inf: 2 (log 2 - |u|) is the value
    saturated = [2 * (np.log(2) - 20), 2 * (np.log(2) - 40)]
    np.testing.assert_allclose(distributions.log_one_minus_tanh_squared(u)[3:], saturated, rtol=1e-5)


def test_squashed_gaussian_log_prob_is_the_density_of_the_scaled_tanh():
    """The density of a = c + s tanh(u) by the change of variables, checked against a histogram-free
    route: p(a) = N(u) / |da/du| with da/du = s (1 - tanh(u)^2), for a 1-D action."""
    mean, log_std = jnp.array([[0.3]]), jnp.log(jnp.array([[0.8]]))
    scale, center = np.array([2.0], np.float32), np.array([0.5], np.float32)
    action, log_prob = distributions.squashed_gaussian_sample(mean, log_std, jax.random.PRNGKey(1), scale, center)
    u = np.arctanh((float(action[0, 0]) - 0.5) / 2.0)
    expected = stats.norm(0.3, 0.8).logpdf(u) - np.log(2.0 * (1 - np.tanh(u) ** 2))
    assert float(log_prob[0]) == pytest.approx(expected, abs=1e-4)
    assert -1.5 <= float(action[0, 0]) <= 2.5  # inside the box [c - s, c + s]
