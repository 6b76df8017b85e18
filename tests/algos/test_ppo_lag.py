"""PPO with a lag (the decoupled objective): its loss by hand, its update equal to PPO's where the
behaviour policy is the proximal one, its correction at work where it is not, EnvPool CartPole
learned on the actor-learner, and what the actor-learner cannot run refused in one line."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.algos import get_algorithm, ppo
from jaxrl.algos.ppo import decoupled, ppo_loss
from jaxrl.config import resolve
from jaxrl.core.types import Trajectory
from jaxrl.errors import ConfigError
from jaxrl.training.actor_learner import ActorLearner, runner_for
from jaxrl.training.fleet import Fleet
from tests.algos.test_impala import CARTPOLE_SPEC, on_policy_rollout
from tests.algos.test_ppo import HYPER, batch_with_masked_garbage
from tests.conftest import train


def proximal_batch(behaviour_probs):
    """`batch_with_masked_garbage`'s, its log-probs the proximal policy's (0.5 each), acted on by a
    behaviour policy with `behaviour_probs`, as `learn` builds it through `decoupled`."""
    log_prob, entropy, value, batch = batch_with_masked_garbage()
    steps = jax.tree.map(lambda x: x[None], batch)  # [T=1, E=3]
    mu = {"log_prob": jnp.log(jnp.array([behaviour_probs]))}
    traj = Trajectory(*([None] * 6), extras=mu, last_obs=None)
    extras = decoupled(traj, steps["log_prob"], steps["value"]).extras
    return log_prob, entropy, value, {**batch, "log_prob": extras["log_prob"][0], "weight": extras["weight"][0]}


def test_with_the_behaviour_policy_the_proximal_one_the_loss_is_ppos():
    weighted = ppo_loss(*proximal_batch([0.5, 0.5, 0.5]), HYPER, clip_vloss=True, norm_adv=False)
    plain = ppo_loss(*batch_with_masked_garbage(), HYPER, clip_vloss=True, norm_adv=False)
    for name in plain[1]:
        assert float(weighted[1][name]) == float(plain[1][name]), name
    assert float(weighted[0]) == float(plain[0])
    assert float(weighted[1]["importance_weight"]) == 1.0


def test_a_lagging_behaviour_policy_is_weighted_by_hand():
    # mu 0.25 and 0.625 against pi_prox 0.5: w = min(1, 2) = 1 and min(1, 0.8) = 0.8; the third is masked
    loss, metrics = ppo_loss(*proximal_batch([0.25, 0.625, 0.9]), HYPER, clip_vloss=False, norm_adv=False)
    # ratios to pi_prox 1.5 and 0.5, clipped: -1.2 and +0.8 as PPO's; weighted: -1.2 * 1 + 0.8 * 0.8 = -0.56
    assert float(metrics["policy_loss"]) == pytest.approx(-0.56 / 2, abs=1e-6)
    assert float(metrics["importance_weight"]) == pytest.approx(0.9, abs=1e-6)
    assert float(metrics["clipfrac"]) == 1.0  # the trust region is around pi_prox, not mu
    assert float(loss) == pytest.approx(-0.28 + 0.5 * 0.25 - 0.01 * 0.6, abs=1e-6)


def learned(static: ppo.Static, traj_of=lambda traj: traj):
    hyper = ppo.Hyper(lr=1e-3, gamma=0.9)
    agent = ppo.build(static, CARTPOLE_SPEC, 10)
    state = agent.init(jax.random.PRNGKey(1), hyper)
    return agent.learn(state, traj_of(on_policy_rollout(agent, state)), hyper, jax.random.PRNGKey(2))


def test_on_policy_data_gives_ppos_update_and_stale_data_a_corrected_one():
    static = ppo.Static(num_envs=3, rollout_steps=6, num_minibatches=2, update_epochs=2)
    synchronous, metrics = learned(static)
    lagged, lag_metrics = learned(ppo.Static(**{**static.__dict__, "lag": 1}))
    assert float(lag_metrics["importance_weight"]) == pytest.approx(1.0, abs=1e-6)
    for got, want in zip(jax.tree.leaves(lagged.params), jax.tree.leaves(synchronous.params), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)

    def stale(traj):  # a behaviour policy twice as likely to take the actions it took
        return traj._replace(extras=dict(traj.extras, log_prob=traj.extras["log_prob"] + jnp.log(2.0)))

    corrected, stale_metrics = learned(ppo.Static(**{**static.__dict__, "lag": 1}), stale)
    assert float(stale_metrics["importance_weight"]) == pytest.approx(0.5, abs=1e-6)
    # the ratio is to pi_prox: measured against mu it would start at (0.5 - 1) - log 0.5 = 0.19
    assert float(stale_metrics["approx_kl"]) < 10 * float(metrics["approx_kl"]) < 0.01
    differs = [not np.allclose(a, b) for a, b in zip(jax.tree.leaves(corrected), jax.tree.leaves(lagged), strict=True)]
    assert any(differs)


def test_lagged_ppo_solves_envpool_cartpole_within_a_ci_budget(tmp_path):
    options = {"env": "CartPole-v1", "seed": 0, "lag": 1, "logdir": str(tmp_path), "total_steps": 60_000}
    config = resolve(get_algorithm("ppo"), options)
    assert runner_for(config).func is ActorLearner
    assert runner_for(resolve(get_algorithm("ppo"), {"env": "CartPole-v1"})) is Fleet
    run = train(config)["runs"][0]
    assert run["steps_to_target"] is not None and run["steps_to_target"] <= 50_000, run


@pytest.mark.parametrize(
    ("algo", "options", "message"),
    [
        (
            "ppo",
            {"recurrent": "gru"},
            "--lag 1 runs feed-forward PPO with a local critic; --recurrent gru needs --lag 0",
        ),
        ("ppo", {"num_envs": 6, "actor_threads": 4}, "--num-envs 6 does not split evenly over --actor-threads 4"),
        ("ppo", {"num_envs": 4, "actor_threads": 8}, "--actor-threads 8 is more than --num-envs 4"),
    ],
)
def test_settings_the_actor_learner_cannot_run_are_refused_in_one_line(algo, options, message):
    with pytest.raises(ConfigError, match=message) as error:
        resolve(get_algorithm(algo), {"env": "CartPole-v1", "lag": 1, **options})
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("algo", "env", "backend", "message"),
    [
        ("ppo", "CartPole-v1", "gymnax", "runs on gymnax: the fused loop has nothing to overlap, use --lag 0"),
        ("ppo", "CartPole-v1", "gymnasium", "runs on gymnasium: use EnvPool's id of the env, or --lag 0"),
        ("ippo", "MPE_simple_spread_v3", "jaxmarl", "runs on jaxmarl: use EnvPool's id of the env, or --lag 0"),
    ],
)
def test_a_lagged_run_off_envpool_is_refused_before_anything_is_built(algo, env, backend, message, tmp_path):
    config = resolve(get_algorithm(algo), {"env": env, "backend": backend, "lag": 1, "logdir": str(tmp_path)})
    with pytest.raises(ConfigError, match=message) as error:
        train(config)
    assert "\n" not in str(error.value)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_a_stopped_lagged_run_resumes_with_its_updates_counted(tmp_path):
    """The actor-learner's checkpoint holds PPO's state at an update boundary: its update count
    (which anneals the learning rate) matches the env steps saved, before and after a resume."""
    from tests.training.test_checkpoints import saved_arrays

    options = {"env": "CartPole-v1", "seed": 0, "lag": 1, "logdir": str(tmp_path), "name": "stopped"}
    config = resolve(get_algorithm("ppo"), {**options, "total_steps": 20480, "target_return": 1000})
    per_update = config.static.num_envs * config.static.rollout_steps
    stopped = train(config, should_stop=lambda env_steps: env_steps >= 5120)
    assert stopped["interrupted_by"] == "request"
    run_dir = Path(stopped["run_dir"])
    saved = saved_arrays(run_dir)
    assert 0 < int(saved["env_steps"]) < 20480 and int(saved["env_steps"]) % per_update == 0
    assert np.all(saved["agent"]["iteration"] == int(saved["env_steps"]) // per_update)

    summary = train(config, resume=run_dir)
    assert summary["interrupted_by"] is None and summary["runs"][0]["env_steps"] == 20480
    assert np.all(saved_arrays(run_dir)["agent"]["iteration"] == 20480 // per_update)
