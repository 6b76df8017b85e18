"""The clipped PPO loss on a hand-made batch, PPO learning CartPole; continuous PPO's members and
running statistics, its greedy action, and it learning InvertedPendulum."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.algos import get_algorithm
from jaxrl.algos.ppo import Hyper, ppo_loss
from jaxrl.config import resolve
from jaxrl.core import normalization
from jaxrl.core.networks import GaussianActorCritic
from jaxrl.envs import EnvSpec
from tests.conftest import train

HYPER = Hyper(clip_eps=0.2, vf_coef=0.5, ent_coef=0.01)


def batch_with_masked_garbage():
    """Two real samples and a third, masked one (EnvPool's reset step) with absurd values."""
    batch = {
        "log_prob": jnp.log(jnp.array([0.5, 0.5, 0.5])),
        "advantages": jnp.array([1.0, -1.0, 1e6]),
        "value": jnp.array([1.5, 0.0, -1e6]),
        "returns": jnp.array([2.0, 2.0, 1e6]),
        "valid": jnp.array([True, True, False]),
    }
    new_log_prob = jnp.log(jnp.array([0.75, 0.25, 1e-6]))  # ratios 1.5, 0.5 and garbage
    new_value = jnp.array([1.0, 2.0, 1e6])
    entropy = jnp.array([0.5, 0.7, 1e6])
    return new_log_prob, entropy, new_value, batch


def test_ppo_loss_hand_computed_without_value_clipping():
    loss, metrics = ppo_loss(*batch_with_masked_garbage(), HYPER, clip_vloss=False, norm_adv=False)
    # policy: A=+1, ratio 1.5 -> clipped 1.2 -> -1.2;  A=-1, ratio 0.5 -> clipped 0.8 -> +0.8;  mean -0.2
    assert float(metrics["policy_loss"]) == pytest.approx(-0.2, abs=1e-6)
    # value: 0.5 * mean((1 - 2)^2, (2 - 2)^2) = 0.25
    assert float(metrics["value_loss"]) == pytest.approx(0.25, abs=1e-6)
    assert float(metrics["entropy"]) == pytest.approx(0.6, abs=1e-6)
    assert float(loss) == pytest.approx(-0.2 + 0.5 * 0.25 - 0.01 * 0.6, abs=1e-6)
    assert float(metrics["clipfrac"]) == pytest.approx(1.0)


def test_ppo_value_clipping_takes_the_pessimistic_error():
    _, metrics = ppo_loss(*batch_with_masked_garbage(), HYPER, clip_vloss=True, norm_adv=False)
    # clipped values: 1.5 + clip(-0.5) = 1.3 -> 0.49 < 1.0;  0 + clip(2.0) = 0.2 -> 3.24 > 0
    assert float(metrics["value_loss"]) == pytest.approx(0.5 * (1.0 + 3.24) / 2, abs=1e-5)


def test_ppo_advantage_normalisation_ignores_masked_steps():
    log_prob, entropy, value, batch = batch_with_masked_garbage()
    _, normalised = ppo_loss(log_prob, entropy, value, batch, HYPER, clip_vloss=False, norm_adv=True)
    # advantages [1, -1] already have mean 0 and std 1 over the valid steps: nothing changes
    _, plain = ppo_loss(log_prob, entropy, value, batch, HYPER, clip_vloss=False, norm_adv=False)
    assert float(normalised["policy_loss"]) == pytest.approx(float(plain["policy_loss"]), abs=1e-5)


def test_ppo_loss_is_zero_policy_gradient_at_ratio_one_with_zero_advantage():
    log_prob = jnp.log(jnp.array([0.3, 0.6]))
    batch = {
        "log_prob": log_prob,
        "advantages": jnp.zeros(2),
        "value": jnp.zeros(2),
        "returns": jnp.zeros(2),
        "valid": jnp.ones(2, bool),
    }
    _, metrics = ppo_loss(log_prob, jnp.zeros(2), jnp.zeros(2), batch, HYPER, clip_vloss=True, norm_adv=False)
    assert float(metrics["policy_loss"]) == 0.0
    assert float(metrics["approx_kl"]) == 0.0


CONTINUOUS = dict(env="InvertedPendulum-v4", num_envs=2, rollout_steps=64, num_minibatches=2, update_epochs=2)


def test_continuous_member_1_equals_the_single_run_with_seed_1_running_statistics_included(run_chunks):
    population_state, population = run_chunks("ppo", seeds=2, seed=0, **CONTINUOUS)
    single_state, single = run_chunks("ppo", seeds=1, seed=1, **CONTINUOUS)
    for chunk_population, chunk_single in zip(population, single, strict=True):
        for key in chunk_single:
            np.testing.assert_allclose(chunk_population[key][:, 1], chunk_single[key][:, 0], rtol=1e-4, atol=1e-5)
    member = jax.tree.map(lambda x: x[1], population_state.agent)
    alone = jax.tree.map(lambda x: x[0], single_state.agent)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), member, alone)
    # 4 learn calls took in 4 x 2 x 64 observations (less the reset steps), one set per member
    assert 400 < float(alone.obs_stats.count) <= 512 and float(np.abs(alone.obs_stats.mean).max()) > 0
    assert alone.reward_scale.returns.shape == (2,)
    log_std = alone.params["params"]["log_std"]
    assert log_std.shape == (1,)  # the state-independent log-std, learned


def test_continuous_preferences_are_the_mean_of_the_normalised_observations():
    algorithm = get_algorithm("ppo")
    spec = EnvSpec("InvertedPendulum-v4", (4,), "float32", 1, 1, (1,), (-3.0,), (3.0,))
    static = algorithm.Static(num_envs=1, rollout_steps=8, num_minibatches=1, norm_obs=True)
    agent = algorithm.build(static, spec, num_iterations=1)
    state = agent.init(jax.random.PRNGKey(0), algorithm.Hyper())
    state = state.replace(obs_stats=normalization.RunningStats(jnp.full(4, 2.0), jnp.full(4, 4.0), jnp.float32(10)))
    obs = jnp.array([[4.0, 0.0, 2.0, 6.0]])
    network = GaussianActorCritic(1, (4,), (64, 64), static.shared_torso)
    (mean, _), _ = network.apply(state.params, jnp.array([[1.0, -1.0, 0.0, 2.0]]))  # (obs - 2) / 2
    np.testing.assert_allclose(agent.preferences(state, obs), mean, rtol=1e-6)


@pytest.mark.slow
def test_continuous_ppo_solves_inverted_pendulum_within_budget(tmp_path):
    config = resolve(get_algorithm("ppo"), {"env": "InvertedPendulum-v4", "seed": 0, "logdir": str(tmp_path)})
    assert config.target_return == 950 and config.static.norm_obs and config.static.num_minibatches == 32
    run = train(config)["runs"][0]
    assert run["steps_to_target"] is not None, run
