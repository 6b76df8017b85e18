"""Optax optimizers whose numeric settings are population arrays.

`optax.inject_hyperparams` keeps the learning rate and the clipping norm in the optimizer state
instead of baking them into the compiled program, so every member of a population (a sweep over
`lr`, say) carries its own values, and the learning rate can be annealed by rewriting the state.
"""

from collections.abc import Callable

import optax


def clipped(make: Callable[[float], optax.GradientTransformation], lr, max_grad_norm):
    """Gradients clipped to a global norm of `max_grad_norm`, then `make(learning_rate)`."""

    def chain(learning_rate, max_grad_norm):
        return optax.chain(optax.clip_by_global_norm(max_grad_norm), make(learning_rate))

    return optax.inject_hyperparams(chain)(learning_rate=lr, max_grad_norm=max_grad_norm)


def with_learning_rate(opt_state, learning_rate):
    """The state of a `clipped` optimizer with its learning rate replaced (annealing)."""
    return opt_state._replace(hyperparams={**opt_state.hyperparams, "learning_rate": learning_rate})


def linear_decay(iteration, num_iterations: int):
    """1 at the first iteration, falling linearly towards 0 at the last."""
    return 1.0 - iteration / num_iterations
