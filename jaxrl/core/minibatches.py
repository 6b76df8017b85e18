"""Minibatch epochs over one rollout: the gradient steps of PPO and PQN, written once.

Feed-forward learners shuffle single steps (`shuffled_minibatches`); recurrent ones cut the
rollout along the env axis only (`env_minibatches`), so each minibatch holds whole sequences
that replay from the carry stored at the rollout's start (SBX #88: shuffling steps breaks them).
"""

import jax
import optax


def shuffled_minibatches(batch, key, num_minibatches: int):
    """`batch` (leaves [B, ...]) as `num_minibatches` shuffled minibatches: leaves [M, B / M, ...]."""
    batch_size = jax.tree.leaves(batch)[0].shape[0]
    if num_minibatches == 1:  # the whole batch: shuffling would only reorder a sum (and cost a sort)
        return jax.tree.map(lambda x: x[None], batch)
    order = jax.random.permutation(key, batch_size)
    return jax.tree.map(lambda x: x[order].reshape(num_minibatches, batch_size // num_minibatches, *x.shape[1:]), batch)


def env_minibatches(batch, key, num_minibatches: int):
    """A recurrent learner's minibatches: `batch` is (rollout with leaves [T, E, ...], initial
    carry with leaves [E, ...]); the envs are shuffled and cut into `num_minibatches` groups,
    the time axis never: (rollout [M, T, E / M, ...], carry [M, E / M, ...]). Env e's whole
    sequence and its carry land in the same minibatch, at the same place."""
    rollout, carry = batch
    by_env = jax.tree.map(lambda x: x.swapaxes(0, 1), rollout)  # [E, T, ...]: envs lead, as the carry's
    rollouts, carries = shuffled_minibatches((by_env, carry), key, num_minibatches)
    return jax.tree.map(lambda x: x.swapaxes(1, 2), rollouts), carries  # [M, E/M, T] -> [M, T, E/M]


def minibatch_epochs(
    loss_fn, tx, params, opt_state, batch, key, update_epochs: int, num_minibatches: int, unroll, split=None
):
    """`update_epochs` passes over `batch`, each in `num_minibatches` minibatches cut by `split`
    (default `shuffled_minibatches`: leaves [B, ...], B / num_minibatches samples each;
    `env_minibatches` for a recurrent learner's (rollout, initial carry)), one `tx` step on each.

    `loss_fn(params, minibatch) -> (loss, metrics)`. Returns ((params, opt_state), metrics with
    leaves [update_epochs, num_minibatches]). `unroll`: unroll both loops (see
    `jaxrl.core.networks.unroll_gradient_loops`).
    """
    split = shuffled_minibatches if split is None else split

    def minibatch_step(carry, minibatch):
        params, opt_state = carry
        grads, metrics = jax.grad(loss_fn, has_aux=True)(params, minibatch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), metrics

    def epoch(carry, epoch_key):
        return jax.lax.scan(minibatch_step, carry, split(batch, epoch_key, num_minibatches), unroll=unroll)

    return jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, update_epochs), unroll=unroll)
