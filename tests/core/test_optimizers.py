"""Optimizers step with the settings they are built with at each update, not the copy that
optax's inject_hyperparams took into the state at init: an annealed or explored (PBT) value, or a
state taken over from another member, takes effect."""

import jax.numpy as jnp
import numpy as np
import optax

from jaxrl.core import optimizers


def test_an_update_uses_this_updates_learning_rate_and_clipping_norm():
    params = {"w": jnp.ones(3)}
    grads = {"w": jnp.full(3, 4.0)}
    state = optimizers.clipped(optax.sgd, 0.1, 100.0).init(params)  # the state remembers 0.1 and 100
    updates, state = optimizers.clipped(optax.sgd, 0.5, 1.0).update(grads, state, params)
    # clipped to a global norm of 1 (from 4 * sqrt(3)), then scaled by -0.5
    np.testing.assert_allclose(updates["w"], -0.5 * np.full(3, 4.0) / np.sqrt(48.0), rtol=1e-6)
    assert float(state.hyperparams["learning_rate"]) == 0.5 and float(state.hyperparams["max_grad_norm"]) == 1.0
    adam = optimizers.injected(optax.adam, learning_rate=0.0)
    zero, _ = adam.update(grads, optimizers.injected(optax.adam, learning_rate=1.0).init(params), params)
    np.testing.assert_array_equal(zero["w"], np.zeros(3))
