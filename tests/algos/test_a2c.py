"""A2C: GAE with lambda 1 gives the n-step returns, the loss on hand values, `learn` regressing
V on those returns, one torso under both heads, and A2C learning CartPole."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.algos import a2c, reinforce
from jaxrl.algos.a2c import Hyper, Static, build
from jaxrl.core import distributions
from jaxrl.core.losses import policy_gradient_loss
from jaxrl.core.networks import ActorCritic
from jaxrl.core.returns import gae, next_values
from jaxrl.core.types import Trajectory
from jaxrl.envs import EnvSpec

CARTPOLE_SPEC = EnvSpec("CartPole-v1", (4,), "float32", 2)


def test_gae_with_lambda_1_gives_n_step_returns_cut_at_episode_ends():
    # gamma 0.5, T=4, V after the rollout's last step: 8 (env 0), 4 (env 1).
    # env 0 terminates after t=1; env 1 is truncated after t=1, so V(s_2) = 6 is bootstrapped there.
    reward = jnp.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 1.0]])
    value = jnp.array([[0.5, 0.0], [1.0, 0.0], [1.5, 6.0], [2.0, 2.0]])
    terminated = jnp.array([[False, False], [True, False], [False, False], [False, False]])
    truncated = jnp.array([[False, False], [False, True], [False, False], [False, False]])
    advantages, returns = gae(
        reward, value, next_values(value, jnp.array([8.0, 4.0])), terminated, terminated | truncated, 0.5, 1.0
    )
    expected_returns = [
        # env 0: R0 = 1 + 0.5*2 = 2;  R1 = 2 (terminated);  R2 = 3 + 0.5*4 + 0.25*8 = 7;  R3 = 4 + 0.5*8 = 8
        # env 1: R0 = 1 + 0.5*1 + 0.25*6 = 3;  R1 = 1 + 0.5*6 = 4 (truncated);  R2 = 1 + 0.5*1 + 0.25*4 = 2.5;
        #        R3 = 1 + 0.5*4 = 3
        [2.0, 3.0],
        [2.0, 4.0],
        [7.0, 2.5],
        [8.0, 3.0],
    ]
    np.testing.assert_allclose(returns, expected_returns, rtol=1e-6)
    # A = R - V
    np.testing.assert_allclose(advantages, [[1.5, 3.0], [1.0, 4.0], [5.5, -3.5], [6.0, 1.0]], rtol=1e-6)


def test_a2c_and_reinforce_share_the_cores_policy_gradient_loss():
    assert a2c.policy_gradient_loss is reinforce.policy_gradient_loss is policy_gradient_loss


def test_a2c_loss_is_policy_plus_half_value_minus_entropy_bonus():
    hyper = Hyper(vf_coef=0.5, ent_coef=0.1)
    log_prob = jnp.array([-1.0, -2.0, 1e6])
    entropy = jnp.array([0.6, 0.4, 1e6])
    value = jnp.array([1.0, 2.0, -1e6])
    batch = {
        "returns": jnp.array([4.0, 0.0, 1e6]),
        "advantages": jnp.array([3.0, -2.0, 1e6]),  # R - V
        "mask": jnp.array([True, True, False]),  # the third is EnvPool's reset step
    }
    loss, metrics = policy_gradient_loss(log_prob, entropy, value, batch, hyper, baseline=True, norm_adv=False)
    # policy: -mean(-1*3, -2*-2) = -mean(-3, 4) = -0.5;  value: 0.5 * mean(3^2, 2^2) = 3.25;  entropy: 0.5
    assert float(metrics["policy_loss"]) == pytest.approx(-0.5, abs=1e-6)
    assert float(metrics["value_loss"]) == pytest.approx(3.25, abs=1e-6)
    assert float(metrics["entropy"]) == pytest.approx(0.5, abs=1e-6)
    # -0.5 + 0.5 * 3.25 - 0.1 * 0.5
    assert float(loss) == pytest.approx(1.075, abs=1e-6)


def n_step_return(reward, value, last_value, terminated, truncated, t, gamma):
    """R_t of one env summed forwards: rewards to the episode's end or the rollout's, then the
    bootstrap (none after a termination)."""
    total, discount = 0.0, 1.0
    for k in range(t, len(reward)):
        total += discount * reward[k]
        discount *= gamma
        if terminated[k]:
            return total
        if truncated[k]:
            return total + discount * (value[k + 1] if k + 1 < len(reward) else last_value)
    return total + discount * last_value


def test_learn_fits_the_value_to_n_step_returns_on_valid_steps():
    static = Static(num_envs=2, rollout_steps=4)
    hyper = Hyper(gamma=0.5, vf_coef=0.5)
    agent = build(static, CARTPOLE_SPEC, num_iterations=1)
    state = agent.init(jax.random.PRNGKey(0), hyper)
    obs = jax.random.normal(jax.random.PRNGKey(1), (4, 2, 4))
    last_obs = jax.random.normal(jax.random.PRNGKey(2), (2, 4))
    # env 0 terminates after t=0 (t=1 is EnvPool's reset step); env 1 is truncated after t=2
    reward = np.array([[1.0, 0.5], [0.0, 1.0], [2.0, -1.0], [1.0, 3.0]], np.float32)
    terminated = np.array([[True, False], [False, False], [False, False], [False, False]])
    truncated = np.array([[False, False], [False, False], [False, True], [False, False]])
    valid = np.array([[True, True], [False, True], [True, True], [True, False]])
    action = jnp.array([[0, 1], [1, 1], [0, 0], [1, 0]], jnp.int32)
    _, extras = jax.vmap(agent.act, in_axes=(None, 0, None))(state, obs, jax.random.PRNGKey(3))
    traj = Trajectory(obs, action, jnp.asarray(reward), terminated, truncated, valid, extras, last_obs)
    _, metrics = jax.jit(agent.learn)(state, traj, hyper, jax.random.PRNGKey(4))

    network = ActorCritic(2, (4,), static.hidden, shared=True)
    logits, value = jax.vmap(network.apply, in_axes=(None, 0))(state.params, obs)
    _, last_value = network.apply(state.params, last_obs)
    log_prob = np.asarray(distributions.log_prob(logits, action))
    value, last_value = np.asarray(value), np.asarray(last_value)
    returns = np.array(
        [
            [
                n_step_return(reward[:, e], value[:, e], last_value[e], terminated[:, e], truncated[:, e], t, 0.5)
                for e in range(2)
            ]
            for t in range(4)
        ]
    )
    advantages = returns - value
    assert float(metrics["value_loss"]) == pytest.approx(0.5 * np.mean(advantages[valid] ** 2), rel=1e-4)
    assert float(metrics["policy_loss"]) == pytest.approx(-np.mean(log_prob[valid] * advantages[valid]), rel=1e-4)


def test_one_torso_feeds_both_heads():
    agent = build(Static(), CARTPOLE_SPEC, num_iterations=1)
    params = agent.init(jax.random.PRNGKey(0), Hyper()).params
    # ActorCritic names its modules MLP_0 (torso), Dense_0 (policy head), Dense_1 (value head);
    # separate torsos would add MLP_1, as REINFORCE's default network has
    assert set(params["params"]) == {"MLP_0", "Dense_0", "Dense_1"}
    assert params["params"]["Dense_0"]["kernel"].shape == (64, 2)
    assert params["params"]["Dense_1"]["kernel"].shape == (64, 1)
    separate = reinforce.build(reinforce.Static(), CARTPOLE_SPEC, 1).init(jax.random.PRNGKey(0), reinforce.Hyper())
    assert set(separate.params["params"]) == {"MLP_0", "MLP_1", "Dense_0", "Dense_1"}

    # both outputs depend on the one torso
    network = ActorCritic(2, (4,), Static().hidden, shared=True)
    obs = jax.random.normal(jax.random.PRNGKey(1), (3, 4))
    for head in (0, 1):
        grads = jax.grad(lambda p, head=head: jnp.sum(network.apply(p, obs)[head]))(params)
        torso = jax.tree.leaves(grads["params"]["MLP_0"])
        assert all(float(jnp.abs(g).sum()) > 0 for g in torso), head
