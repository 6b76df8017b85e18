"""IMPALA: with no lag its update is A2C's on the same data, and it refuses bad settings in one
line before anything compiles."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrl.algos import a2c, get_algorithm, impala
from jaxrl.config import resolve
from jaxrl.core import distributions
from jaxrl.core.losses import policy_gradient_loss
from jaxrl.core.networks import ActorCritic
from jaxrl.core.returns import gae, next_values
from jaxrl.core.types import Trajectory, flatten_steps
from jaxrl.envs import EnvSpec
from jaxrl.errors import ConfigError

CARTPOLE_SPEC = EnvSpec("CartPole-v1", (4,), "float32", 2)
STEPS, ENVS = 6, 3


def on_policy_rollout(agent, state, seed: int = 0) -> Trajectory:
    """A rollout acted by `state` itself (--lag 0): random observations, episodes ending inside it."""
    keys = jax.random.split(jax.random.PRNGKey(seed), 5)
    obs = jax.random.normal(keys[0], (STEPS, ENVS, 4))
    action, extras = jax.vmap(agent.act, in_axes=(None, 0, 0))(state, obs, jax.random.split(keys[1], STEPS))
    terminated = jax.random.uniform(keys[2], (STEPS, ENVS)) < 0.2
    truncated = ~terminated & (jax.random.uniform(keys[3], (STEPS, ENVS)) < 0.1)
    done = terminated | truncated
    valid = jnp.concatenate([jnp.ones((1, ENVS), bool), ~done[:-1]])  # EnvPool's reset steps masked
    reward = jax.random.uniform(keys[4], (STEPS, ENVS))
    return Trajectory(obs, action, reward, terminated, truncated, valid, extras, obs[-1] + 1.0)


def test_without_lag_the_update_is_a2cs_on_the_same_data():
    hyper = impala.Hyper(lr=1e-3, rms_eps=1e-5, gamma=0.9, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5)
    agent = impala.build(impala.Static(lag=0), CARTPOLE_SPEC, 10)
    state = agent.init(jax.random.PRNGKey(1), hyper)
    traj = on_policy_rollout(agent, state)
    learned, metrics = agent.learn(state, traj, hyper, jax.random.PRNGKey(2))
    assert float(metrics["importance_ratio"]) == pytest.approx(1.0, abs=1e-6)

    # A2C's module on the same rollout and parameters: same losses
    a2c_hyper = a2c.Hyper(lr=1e-3, gamma=0.9, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5)
    a2c_agent = a2c.build(a2c.Static(), CARTPOLE_SPEC, 10)
    _, a2c_metrics = a2c_agent.learn(
        a2c.AgentState(state.params, state.opt_state, state.iteration), traj, a2c_hyper, jax.random.PRNGKey(2)
    )
    for name in ("policy_loss", "value_loss", "entropy"):
        assert float(metrics[name]) == pytest.approx(float(a2c_metrics[name]), rel=1e-5, abs=1e-7), name

    # and the same step: A2C's n-step-return gradient through IMPALA's optimizer
    network = ActorCritic(2, (4,), (64, 64), shared=True)
    _, last_value = network.apply(state.params, traj.last_obs)
    value = traj.extras["value"]
    done = traj.terminated | traj.truncated
    advantages, returns = gae(traj.reward, value, next_values(value, last_value), traj.terminated, done, 0.9, 1.0)
    batch = flatten_steps({"obs": traj.obs, "action": traj.action, "returns": returns, "advantages": advantages})
    batch["mask"] = traj.valid.reshape(-1)

    def a2c_loss(params):
        logits, v = network.apply(params, batch["obs"])
        log_prob = distributions.log_prob(logits, batch["action"])
        entropy = distributions.entropy(logits)
        return policy_gradient_loss(log_prob, entropy, v, batch, hyper, baseline=True, norm_adv=False)[0]

    updates, _ = impala.optimizer(hyper).update(jax.grad(a2c_loss)(state.params), state.opt_state, state.params)
    expected = optax.apply_updates(state.params, updates)
    for got, want in zip(jax.tree.leaves(learned.params), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_a_lagging_behaviour_policy_is_corrected_by_importance_weights():
    hyper = impala.Hyper()
    agent = impala.build(impala.Static(), CARTPOLE_SPEC, 10)
    state = agent.init(jax.random.PRNGKey(1), hyper)
    traj = on_policy_rollout(agent, state)
    # a behaviour policy twice as likely to take the actions taken: rho = c = 0.5 everywhere
    lagging = traj._replace(extras=dict(traj.extras, log_prob=traj.extras["log_prob"] + jnp.log(2.0)))
    on_policy, _ = agent.learn(state, traj, hyper, jax.random.PRNGKey(2))
    corrected, metrics = agent.learn(state, lagging, hyper, jax.random.PRNGKey(2))
    assert float(metrics["importance_ratio"]) == pytest.approx(0.5, rel=1e-5)
    differs = [
        not np.allclose(a, b) for a, b in zip(jax.tree.leaves(on_policy), jax.tree.leaves(corrected), strict=True)
    ]
    assert any(differs)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lag": -1}, "invalid --lag -1: must be an integer >= 0"),
        ({"num_envs": 4, "actor_threads": 8}, "--actor-threads 8 is more than --num-envs 4"),
        ({"num_envs": 6, "actor_threads": 4}, "--num-envs 6 does not split evenly over --actor-threads 4"),
    ],
)
def test_bad_settings_are_refused_in_one_line(options, message):
    with pytest.raises(ConfigError, match=message) as error:
        resolve(get_algorithm("impala"), {"env": "CartPole-v1", **options})
    assert "\n" not in str(error.value)
