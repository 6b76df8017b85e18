"""The clipped PPO loss on a hand-made batch, and PPO learning CartPole."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.algos import get_algorithm
from jaxrl.algos.ppo import Hyper, ppo_loss
from jaxrl.config import resolve
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


@pytest.mark.slow
def test_ppo_solves_cartpole_within_budget(tmp_path):
    config = resolve(get_algorithm("ppo"), {"env": "CartPole", "seed": 0, "logdir": str(tmp_path)})
    assert config.target_return == 475
    summary = train(config)
    run = summary["runs"][0]
    assert run["steps_to_target"] is not None, run
    assert run["steps_to_target"] <= config.total_steps
    assert np.isfinite(run["final_return"]) and run["final_return"] >= 475
