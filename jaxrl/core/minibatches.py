"""Minibatch epochs over one rollout: the gradient steps of PPO and PQN, written once."""

import jax
import optax


def minibatch_epochs(loss_fn, tx, params, opt_state, batch, key, update_epochs: int, num_minibatches: int, unroll):
    """`update_epochs` passes over `batch` (leaves [B, ...]), each in `num_minibatches` shuffled
    minibatches of B / num_minibatches samples, one `tx` step on each.

    `loss_fn(params, minibatch) -> (loss, metrics)`. Returns ((params, opt_state), metrics with
    leaves [update_epochs, num_minibatches]). `unroll`: unroll both loops (see
    `jaxrl.core.networks.unroll_gradient_loops`).
    """
    batch_size = jax.tree.leaves(batch)[0].shape[0]
    minibatch_size = batch_size // num_minibatches

    def minibatch_step(carry, minibatch):
        params, opt_state = carry
        grads, metrics = jax.grad(loss_fn, has_aux=True)(params, minibatch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), metrics

    def epoch(carry, epoch_key):
        if num_minibatches == 1:  # the whole batch: shuffling would only reorder a sum (and cost a sort)
            minibatches = jax.tree.map(lambda x: x[None], batch)
        else:
            order = jax.random.permutation(epoch_key, batch_size)
            minibatches = jax.tree.map(lambda x: x[order].reshape(num_minibatches, minibatch_size, *x.shape[1:]), batch)
        return jax.lax.scan(minibatch_step, carry, minibatches, unroll=unroll)

    return jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, update_epochs), unroll=unroll)
