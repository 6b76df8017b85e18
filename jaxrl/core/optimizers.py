"""Optax optimizers whose numeric settings are population arrays.

`optax.inject_hyperparams` keeps the learning rate and the clipping norm in the optimizer state
instead of baking them into the compiled program, so every member of a population (a sweep over
`lr`, say) carries its own values. `injected` writes the current values into that state at every
update: an annealed learning rate, and a value that PBT's explore step changed, take effect.
"""

from collections.abc import Callable

import jax.numpy as jnp
import optax


def injected(make: Callable[..., optax.GradientTransformation], **settings) -> optax.GradientTransformation:
    """`optax.inject_hyperparams(make)(**settings)`, whose updates step with `settings` (this
    update's values, built from the Hyper) rather than the copy the state took at init: after
    init, inject_hyperparams reads numeric settings from the state only, so a value changed
    since (annealed, explored, or a parent's state taken over) would otherwise be ignored."""
    tx = optax.inject_hyperparams(make)(**settings)

    def update(updates, state, params=None):
        current = {name: jnp.asarray(value, state.hyperparams[name].dtype) for name, value in settings.items()}
        return tx.update(updates, state._replace(hyperparams={**state.hyperparams, **current}), params)

    return optax.GradientTransformation(tx.init, update)


def clipped(make: Callable[[float], optax.GradientTransformation], lr, max_grad_norm):
    """Gradients clipped to a global norm of `max_grad_norm`, then `make(learning_rate)`."""

    def chain(learning_rate, max_grad_norm):
        return optax.chain(optax.clip_by_global_norm(max_grad_norm), make(learning_rate))

    return injected(chain, learning_rate=lr, max_grad_norm=max_grad_norm)


def linear_decay(iteration, num_iterations: int):
    """1 at the first iteration, falling linearly towards 0 at the last."""
    return 1.0 - iteration / num_iterations
