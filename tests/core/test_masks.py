"""Action masks: illegal actions are never sampled, never the argmax, and carry no probability."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.core.distributions import entropy, log_prob, masked_argmax, masked_logits
from jaxrl.core.exploration import epsilon_greedy

RNG = np.random.default_rng(0)
MASK = jnp.asarray(RNG.random((256, 6)) < 0.5).at[:, 2].set(True)  # random masks, each with a legal action
LOGITS = jnp.asarray(RNG.normal(size=(256, 6)) * 3, jnp.float32)


def test_sampling_never_picks_an_illegal_action():
    keys = jax.random.split(jax.random.key(0), 50)
    actions = jax.vmap(lambda k: jax.random.categorical(k, masked_logits(LOGITS, MASK)))(keys)
    assert bool(jnp.take_along_axis(jnp.broadcast_to(MASK, (50, 256, 6)), actions[..., None], -1).all())


def test_log_probs_and_entropy_over_the_legal_actions_only():
    masked = masked_logits(LOGITS, MASK)
    # by hand for one row: a softmax over its legal actions alone
    row = 7
    legal = np.flatnonzero(np.asarray(MASK[row]))
    p = np.exp(np.asarray(LOGITS[row])[legal] - np.asarray(LOGITS[row])[legal].max())
    p /= p.sum()
    action = int(legal[-1])
    np.testing.assert_allclose(log_prob(masked[row], jnp.asarray(action)), np.log(p[-1]), rtol=1e-5)
    np.testing.assert_allclose(entropy(masked[row]), -(p * np.log(p)).sum(), rtol=1e-5)
    assert bool(jnp.isfinite(entropy(masked)).all())
    assert float(jnp.abs(jax.grad(lambda x: entropy(masked_logits(x, MASK)).sum())(LOGITS)).max()) < 1e3


def test_argmax_and_epsilon_greedy_stay_legal():
    assert bool(jnp.take_along_axis(MASK, masked_argmax(LOGITS, MASK)[:, None], -1).all())
    for epsilon in (0.0, 0.5, 1.0):
        actions = epsilon_greedy(jax.random.key(1), LOGITS, epsilon, MASK)
        assert bool(jnp.take_along_axis(MASK, actions[:, None], -1).all())
    # uniform over the legal actions when exploring: each of a row's legal actions is drawn
    drawn = jax.vmap(lambda k: epsilon_greedy(k, LOGITS[:1], 1.0, MASK[:1]))(jax.random.split(jax.random.key(2), 400))
    assert set(np.unique(np.asarray(drawn))) == set(np.flatnonzero(np.asarray(MASK[0])))


def test_no_mask_changes_nothing():
    key = jax.random.key(3)
    assert masked_logits(LOGITS, None) is LOGITS
    explore_key, action_key = jax.random.split(key)
    greedy = jnp.argmax(LOGITS, axis=-1)
    random = jax.random.randint(action_key, greedy.shape, 0, 6)
    expected = jnp.where(jax.random.uniform(explore_key, greedy.shape) < 0.3, random, greedy)
    np.testing.assert_array_equal(epsilon_greedy(key, LOGITS, 0.3), expected)
