"""REINFORCE: reward-to-go and its completeness mask on hand-made rollouts, the loss and its value
gradient on hand-made batches, the masking inside `learn`, and REINFORCE learning CartPole."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.algos.reinforce import Hyper, Static, build
from jaxrl.core.losses import policy_gradient_loss
from jaxrl.core.returns import episode_ends_in_rollout, reward_to_go
from jaxrl.core.types import Trajectory
from jaxrl.envs import EnvSpec

CARTPOLE_SPEC = EnvSpec("CartPole-v1", (4,), "float32", 2)


def three_episode_endings():
    """A rollout of T=4 steps of E=3 envs, gamma 0.5, with 100 wherever a value must not be read.

    env 0: terminated after t=1, then an episode that runs past the rollout end;
    env 1: truncated after t=2 with V(s_3) = 10, then past the rollout end;
    env 2: terminated AND truncated after t=0 (a time limit on the terminal step): no bootstrap.
    """
    reward = jnp.array([[1.0, 1.0, 1.0], [2.0, 1.0, 1.0], [3.0, 1.0, 1.0], [4.0, 1.0, 1.0]])
    next_value = jnp.array([[100.0, 100.0, 100.0], [100.0, 100.0, 100.0], [100.0, 10.0, 100.0], [100.0, 100.0, 100.0]])
    terminated = jnp.array([[False, False, True], [True, False, False], [False, False, False], [False, False, False]])
    truncated = jnp.array([[False, False, True], [False, False, False], [False, True, False], [False, False, False]])
    return reward, next_value, terminated, terminated | truncated


def test_reward_to_go_stops_at_termination_bootstraps_truncation_and_stops_at_rollout_end():
    reward, next_value, terminated, done = three_episode_endings()
    returns = reward_to_go(reward, next_value, terminated, done, 0.5)
    expected = [
        # env 0: G3 = 4 (rollout end, no bootstrap); G2 = 3 + 0.5*4 = 5; G1 = 2 (terminated); G0 = 1 + 0.5*2 = 2
        # env 1: G3 = 1; G2 = 1 + 0.5*10 = 6 (truncated); G1 = 1 + 0.5*6 = 4; G0 = 1 + 0.5*4 = 3
        # env 2: G0 = 1 (terminated wins over truncated); G3 = 1; G2 = 1 + 0.5*1 = 1.5; G1 = 1 + 0.5*1.5 = 1.75
        [2.0, 3.0, 1.0],
        [2.0, 4.0, 1.75],
        [5.0, 6.0, 1.5],
        [4.0, 1.0, 1.0],
    ]
    np.testing.assert_allclose(returns, expected, rtol=1e-6)


def test_episode_ends_in_rollout_marks_steps_with_a_later_boundary():
    _, _, _, done = three_episode_endings()
    # boundaries after env 0 t=1, env 1 t=2, env 2 t=0: every step up to its env's last one is complete
    expected = [[True, True, True], [True, True, False], [False, True, False], [False, False, False]]
    np.testing.assert_array_equal(episode_ends_in_rollout(done), expected)


def garbage_tail_batch():
    """Two real steps and a masked third with absurd values that must not reach the loss."""
    log_prob = jnp.array([-1.0, -2.0, 1e6])
    entropy = jnp.array([0.6, 0.4, 1e6])
    value = jnp.array([1.0, 2.0, -1e6])
    batch = {
        "advantages": jnp.array([3.0, -1.0, 1e6]),
        "returns": jnp.array([3.0, 0.0, 1e6]),
        "mask": jnp.array([True, True, False]),
    }
    return log_prob, entropy, value, batch


HYPER = Hyper(vf_coef=0.5, ent_coef=0.1)


def test_policy_gradient_loss_without_baseline_has_no_value_term():
    loss, metrics = policy_gradient_loss(*garbage_tail_batch(), HYPER, baseline=False, norm_adv=False)
    # policy: -mean(-1*3, -2*-1) = -mean(-3, 2) = 0.5;  entropy: mean(0.6, 0.4) = 0.5
    assert float(metrics["policy_loss"]) == pytest.approx(0.5, abs=1e-6)
    assert float(metrics["entropy"]) == pytest.approx(0.5, abs=1e-6)
    assert float(loss) == pytest.approx(0.5 - 0.1 * 0.5, abs=1e-6)
    assert float(metrics["learned_fraction"]) == pytest.approx(2 / 3)


def test_policy_gradient_loss_with_baseline_adds_the_weighted_value_loss():
    loss, metrics = policy_gradient_loss(*garbage_tail_batch(), HYPER, baseline=True, norm_adv=False)
    # value: 0.5 * mean((3 - 1)^2, (0 - 2)^2) = 0.5 * 4 = 2
    assert float(metrics["value_loss"]) == pytest.approx(2.0, abs=1e-6)
    assert float(loss) == pytest.approx(0.5 - 0.1 * 0.5 + 0.5 * 2.0, abs=1e-6)


def test_advantage_normalisation_uses_only_masked_in_steps():
    _, metrics = policy_gradient_loss(*garbage_tail_batch(), HYPER, baseline=False, norm_adv=True)
    # advantages [3, -1]: mean 1, std 2 -> [1, -1] (the masked 1e6 would swamp both);
    # policy: -mean(-1*1, -2*-1) = -mean(-1, 2) = -0.5
    assert float(metrics["policy_loss"]) == pytest.approx(-0.5, abs=1e-5)


def test_value_gradient_is_value_minus_return_times_vf_coef_over_mask_count():
    log_prob, entropy, value, batch = garbage_tail_batch()

    def loss_of_value(v):
        return policy_gradient_loss(log_prob, entropy, v, batch, HYPER, baseline=True, norm_adv=False)[0]

    # d/dV of vf_coef * 0.5 * sum((G - V)^2) / 2 = vf_coef * (V - G) / 2: 0.5*(1-3)/2, 0.5*(2-0)/2; masked: 0
    expected = [-0.5, 0.5, 0.0]
    np.testing.assert_allclose(jax.grad(loss_of_value)(value), expected, atol=1e-6)
    # central differences, exact for a quadratic up to float32 rounding
    eps = 1e-2
    numeric = [
        (loss_of_value(value.at[i].add(eps)) - loss_of_value(value.at[i].add(-eps))) / (2 * eps) for i in range(2)
    ]
    np.testing.assert_allclose(numeric, expected[:2], atol=1e-3)


def one_update(baseline: bool):
    """reward [T, E] -> (state, metrics) of one jitted `learn` on a fixed rollout of T=4, E=2
    (obs, actions, keys fixed): env 0 terminates after t=0 (t=1 is EnvPool's reset step) and after
    t=2; env 1 is truncated after t=2 (t=3 is its reset step)."""
    agent = build(Static(num_envs=2, rollout_steps=4, baseline=baseline), CARTPOLE_SPEC, num_iterations=1)
    hyper = Hyper()
    state = agent.init(jax.random.PRNGKey(0), hyper)
    obs = jax.random.normal(jax.random.PRNGKey(1), (4, 2, 4))
    last_obs = jax.random.normal(jax.random.PRNGKey(2), (2, 4))
    _, extras = jax.vmap(agent.act, in_axes=(None, 0, None))(state, obs, jax.random.PRNGKey(3))
    terminated = jnp.array([[True, False], [False, False], [True, False], [False, False]])
    truncated = jnp.array([[False, False], [False, False], [False, True], [False, False]])
    valid = jnp.array([[True, True], [False, True], [True, True], [True, False]])
    action = jnp.array([[0, 1], [1, 1], [0, 0], [1, 0]], jnp.int32)
    learn = jax.jit(agent.learn)

    def update(reward):
        traj = Trajectory(obs, action, jnp.asarray(reward), terminated, truncated, valid, extras, last_obs)
        return learn(state, traj, hyper, jax.random.PRNGKey(4))

    return update


REWARD = np.ones((4, 2), np.float32)


@pytest.mark.parametrize("baseline", [False, True])
def test_learn_ignores_rewards_of_incomplete_episodes_and_reset_steps(baseline):
    update = one_update(baseline)
    state, metrics = update(REWARD)
    # learned: env 0 t=0,2 and env 1 t=0,1,2. Env 0 t=1 is a reset step (its return is complete but
    # it is no transition); env 0 t=3 and env 1 t=3 run past the rollout end
    assert float(metrics["learned_fraction"]) == pytest.approx(5 / 8)
    masked_out = REWARD.copy()
    masked_out[1, 0] = masked_out[3, 0] = masked_out[3, 1] = 1e3
    state_masked, _ = update(masked_out)
    jax.tree.map(np.testing.assert_array_equal, state_masked.params, state.params)
    # the same change on a learned step does move the update: the comparison above can fail
    learned = REWARD.copy()
    learned[1, 1] = 1e3
    state_learned, _ = update(learned)
    changed = jax.tree.map(lambda a, b: not np.array_equal(a, b), state_learned.params, state.params)
    assert any(jax.tree.leaves(changed))
