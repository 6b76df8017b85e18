"""The recurrent cores: one step at a time equals the whole sequence, `first` resets the state,
and minibatches cut along the env axis keep each sequence whole with its carry."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrl.core.minibatches import env_minibatches, minibatch_epochs, shuffled_minibatches
from jaxrl.core.recurrent import (
    CELLS,
    RecurrentActorCritic,
    RecurrentQNetwork,
    ScannedCell,
    initial_carry,
    one_step,
    recurrence,
    recurrence_forward,
    recurrent_problem,
)

T, E, D, H = 6, 3, 4, 8


def inputs(seed=0):
    x = jax.random.normal(jax.random.PRNGKey(seed), (T, E, D))
    first = jnp.zeros((T, E), bool).at[0].set(True).at[3, 1].set(True)  # env 1 starts again at t=3
    return x, first


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_step_by_step_equals_the_scan_over_the_sequence(kind):
    cell = ScannedCell(kind, H)
    x, first = inputs()
    carry = initial_carry(E, H, kind)
    params = cell.init(jax.random.PRNGKey(1), carry, x, first)
    whole_carry, whole = cell.apply(params, carry, x, first)
    outputs = []
    for t in range(T):
        carry, out = cell.apply(params, carry, x[t : t + 1], first[t : t + 1])
        outputs.append(out[0])
    np.testing.assert_allclose(np.stack(outputs), whole, rtol=1e-6, atol=1e-6)
    for a, b in zip(jax.tree.leaves(carry), jax.tree.leaves(whole_carry), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_first_resets_the_state_inside_the_scan(kind):
    """Where `first` is set, the output depends on the inputs from there on only: a garbage carry
    and different earlier inputs change nothing after a reset."""
    cell = ScannedCell(kind, H)
    x, first = inputs()
    carry = initial_carry(E, H, kind)
    params = cell.init(jax.random.PRNGKey(1), carry, x, first)
    _, out = cell.apply(params, carry, x, first)
    garbage = jax.tree.map(lambda c: c + 5.0, carry)
    other = x.at[:3, 1].set(-x[:3, 1])  # env 1's steps before its reset differ
    _, out_other = cell.apply(params, garbage, other, first)
    np.testing.assert_allclose(out_other[:, [0, 2]], out[:, [0, 2]], atol=1e-6)  # reset at t=0: no garbage
    np.testing.assert_allclose(out_other[3:, 1], out[3:, 1], atol=1e-6)  # env 1 after its reset at t=3
    assert not np.allclose(out_other[1:3, 1], out[1:3, 1])  # before it, the other inputs show


def test_without_first_the_state_carries_over():
    cell = ScannedCell("gru", H)
    x, _ = inputs()
    never = jnp.zeros((T, E), bool)
    carry = initial_carry(E, H, "gru")
    params = cell.init(jax.random.PRNGKey(1), carry, x, never)
    _, out = cell.apply(params, carry, x, never)
    _, shifted = cell.apply(params, carry + 1.0, x, never)
    assert not np.allclose(out[-1], shifted[-1])


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("continuous", [False, True])
def test_actor_critic_acts_one_step_as_it_learns_over_the_sequence(kind, continuous):
    obs_shape = (5,)
    network = RecurrentActorCritic(2, obs_shape, (16,), kind, H, continuous=continuous, head_hidden=(8,))
    obs = jax.random.normal(jax.random.PRNGKey(2), (T, E, *obs_shape))
    _, first = inputs()
    carry = initial_carry(E, H, kind)
    params = network.init(jax.random.PRNGKey(3), carry, obs, first)
    _, (policy, value) = network.apply(params, carry, obs, first)
    assert value.shape == (T, E)
    step_carry, values = carry, []
    for t in range(T):
        step_carry, (_, step_value) = one_step(network, params, step_carry, obs[t], first[t])
        values.append(step_value)
    np.testing.assert_allclose(np.stack(values), value, rtol=1e-5, atol=1e-6)
    means = policy[0] if continuous else policy
    assert means.shape == (T, E, 2)


def test_q_network_on_images():
    obs_shape = (10, 10, 4)  # MinAtar's [H, W, C]
    network = RecurrentQNetwork(3, obs_shape, recurrent="lstm", recurrent_size=H)
    obs = jnp.ones((T, E, *obs_shape), jnp.uint8)
    carry = initial_carry(E, H, "lstm")
    params = network.init(jax.random.PRNGKey(0), carry, obs, jnp.zeros((T, E), bool))
    carry, q = network.apply(params, carry, obs, jnp.zeros((T, E), bool))
    assert q.shape == (T, E, 3) and carry[0].shape == (E, H)


@pytest.mark.parametrize(("kind", "size"), [("rnn", 8), ("gru", 0), ("lstm", -1)])
def test_bad_recurrent_settings_are_one_line(kind, size):
    problem = recurrent_problem(kind, size)
    assert problem is not None and "\n" not in problem and str(size if kind != "rnn" else kind) in problem


def test_good_recurrent_settings_pass():
    assert recurrent_problem("none", 128) is None and recurrent_problem("lstm", 1) is None


def test_env_minibatches_keep_each_sequence_whole_with_its_carry():
    steps, envs, minibatches = 4, 6, 3
    rollout = {"obs": jnp.arange(steps * envs).reshape(steps, envs) * 10, "env": jnp.tile(jnp.arange(envs), (steps, 1))}
    carry = jnp.arange(envs)[:, None] * jnp.ones((1, 2))  # env e's carry holds e
    (parts, carries) = env_minibatches((rollout, carry), jax.random.PRNGKey(0), minibatches)
    assert parts["obs"].shape == (minibatches, steps, envs // minibatches)
    assert carries.shape == (minibatches, envs // minibatches, 2)
    seen = []
    for m in range(minibatches):
        for j in range(envs // minibatches):
            env = int(parts["env"][m, 0, j])
            np.testing.assert_array_equal(parts["env"][m, :, j], env)  # the time axis never mixes envs
            np.testing.assert_array_equal(parts["obs"][m, :, j], rollout["obs"][:, env])  # in order
            np.testing.assert_array_equal(carries[m, j], env)  # with its own carry
            seen.append(env)
    assert sorted(seen) == list(range(envs))
    assert seen != list(range(envs))  # shuffled


def test_one_env_minibatch_is_the_whole_rollout_in_order():
    rollout = jnp.arange(12).reshape(3, 4)
    parts, carries = env_minibatches((rollout, jnp.arange(4)), jax.random.PRNGKey(0), 1)
    np.testing.assert_array_equal(parts[0], rollout)
    np.testing.assert_array_equal(carries[0], jnp.arange(4))


def test_shuffled_minibatches_are_minibatch_epochs_default_split():
    """The default split is the feed-forward one the regression digests were made with."""
    batch = jnp.arange(8.0)

    def loss_fn(params, minibatch):
        return jnp.sum(params * minibatch), minibatch

    tx = optax.sgd(0.0)
    key = jax.random.PRNGKey(4)
    _, default = minibatch_epochs(loss_fn, tx, jnp.ones(()), tx.init(jnp.ones(())), batch, key, 2, 4, False)
    expected = [shuffled_minibatches(batch, k, 4) for k in jax.random.split(key, 2)]
    np.testing.assert_array_equal(default, np.stack(expected))


def test_a_minibatch_of_envs_replays_the_rollout_outputs_from_its_stored_carry():
    """What PPO's loss sees on an env-axis minibatch equals the whole rollout's outputs for
    those envs: the sequences are whole and start from their own carry."""
    steps, envs, obs_shape = 5, 4, (3,)
    network = RecurrentActorCritic(2, obs_shape, (8,), "gru", H)
    obs = jax.random.normal(jax.random.PRNGKey(5), (steps, envs, *obs_shape))
    first = jnp.zeros((steps, envs), bool).at[2, 0].set(True)
    carry = jax.random.normal(jax.random.PRNGKey(6), (envs, H))  # mid-episode carries
    params = network.init(jax.random.PRNGKey(7), carry, obs, first)
    _, (_, value) = network.apply(params, carry, obs, first)
    rollout = {"obs": obs, "first": first, "value": value}
    parts, carries = env_minibatches((rollout, carry), jax.random.PRNGKey(8), 2)
    for m in range(2):
        _, (_, replayed) = network.apply(params, carries[m], parts["obs"][m], parts["first"][m])
        np.testing.assert_allclose(replayed, parts["value"][m], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_the_written_out_backward_pass_equals_autodiff(kind):
    """`recurrence`'s own VJP against JAX's autodiff of the same scan, through resets and from a
    carry that is not zero: every parameter's and input's gradient."""
    blocks, gates = CELLS[kind]
    keys = jax.random.split(jax.random.PRNGKey(9), 4)
    kernel = jax.random.normal(keys[0], (H, blocks * H)) / np.sqrt(H)
    bias = jax.random.normal(keys[1], (blocks * H,))
    projected = jax.random.normal(keys[2], (T, E, blocks * H))
    _, first = inputs()
    carry = jax.tree.map(lambda c: c + jax.random.normal(keys[3], c.shape), initial_carry(E, H, kind))
    weights = jax.random.normal(jax.random.PRNGKey(10), (T, E, H))

    def gradients(run):
        def value(kernel, bias, projected, carry):
            last, outputs = run(gates, kernel, bias, projected, first, carry)
            return jnp.sum(weights * outputs) + sum(jnp.sum(c**2) for c in jax.tree.leaves(last))

        return jax.grad(value, argnums=(0, 1, 2, 3))(kernel, bias, projected, carry)

    ours = gradients(recurrence)
    theirs = gradients(lambda *args: recurrence_forward(*args)[0])
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
