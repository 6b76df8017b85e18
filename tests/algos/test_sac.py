"""SAC, Box and Discrete: the soft value, TD target and the three losses on hand values, the twin
critics' target, population members equal to single runs, and learning Pendulum and CartPole."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.algos import get_algorithm
from jaxrl.algos.sac import Hyper, Static, actor_loss, alpha_loss, critic_loss, discrete_actions, soft_value, td_target
from jaxrl.config import resolve
from jaxrl.core.types import EnvSpec
from tests.conftest import train

# Two states, two actions each (Discrete: weights are pi(a|s); Box would be K = 1, weight 1).
WEIGHTS = jnp.array([[0.25, 0.75], [0.5, 0.5]])
LOG_PROBS = jnp.log(WEIGHTS)
Q = jnp.array([[[1.0, 3.0], [4.0, 0.0]], [[2.0, 2.0], [5.0, 1.0]]])  # [2 critics, 2 states, 2 actions]
MASK = jnp.array([True, True])


def test_soft_value_takes_the_smaller_critic_minus_alpha_log_pi_weighted_by_pi():
    value = soft_value(WEIGHTS, LOG_PROBS, Q, alpha=0.5)
    # min over critics: [[1, 2], [4, 0]];  state 0: 0.25 (1 - 0.5 log .25) + 0.75 (2 - 0.5 log .75)
    expected = [
        0.25 * (1 - 0.5 * np.log(0.25)) + 0.75 * (2 - 0.5 * np.log(0.75)),
        0.5 * (4 - 0.5 * np.log(0.5)) + 0.5 * (0 - 0.5 * np.log(0.5)),
    ]
    np.testing.assert_allclose(value, expected, rtol=1e-6)


def test_td_target_bootstraps_except_after_termination_and_truncation_bootstraps():
    # terminated: 1;  truncated (terminated False: the replay keeps no truncation flag): 2 + 0.5 * 4
    target = td_target(jnp.array([1.0, 2.0]), jnp.array([True, False]), jnp.array([10.0, 4.0]), gamma=0.5)
    np.testing.assert_allclose(target, [1.0, 4.0])


def test_critic_loss_sums_the_two_critics_mean_squared_errors_over_unmasked_samples():
    q_taken = jnp.array([[1.0, 2.0, 100.0], [0.0, 4.0, -100.0]])
    loss = critic_loss(q_taken, jnp.array([1.0, 3.0, 0.0]), jnp.array([True, True, False]))
    assert float(loss) == pytest.approx((0 + 1) / 2 + (1 + 1) / 2)


def test_box_actor_loss_is_alpha_log_pi_minus_the_smaller_critic_of_the_sampled_action():
    # K = 1: weight 1, log pi [-1, -2], critics [[3, 1], [2, 5]] -> min [2, 1]; alpha 0.2
    loss = actor_loss(
        jnp.ones((2, 1)), jnp.array([[-1.0], [-2.0]]), jnp.array([[[3.0], [1.0]], [[2.0], [5.0]]]), 0.2, MASK
    )
    assert float(loss) == pytest.approx(np.mean([0.2 * -1 - 2, 0.2 * -2 - 1]))


def test_discrete_actor_loss_is_the_expectation_over_actions_in_closed_form():
    loss = actor_loss(WEIGHTS, LOG_PROBS, Q, 0.5, MASK)
    minimum = np.array([[1.0, 2.0], [4.0, 0.0]])
    expected = np.mean(np.sum(np.asarray(WEIGHTS) * (0.5 * np.asarray(LOG_PROBS) - minimum), axis=1))
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_discrete_expectations_run_over_the_legal_actions_only():
    # one state, three actions, logits [0, 1, 2]; action 2 illegal: pi = softmax([0, 1]) over 0 and 1
    spec = EnvSpec("masked", (1,), "float32", 3, action_masks=True)
    actions = discrete_actions(spec, Static(hidden=()))
    params = {"params": {"Dense_0": {"kernel": jnp.zeros((1, 3)), "bias": jnp.array([0.0, 1.0, 2.0])}}}
    critics = jax.tree.map(lambda x: jnp.stack([x, x + 1.0]), params)  # Q_1 = [0, 1, 2], Q_2 = [1, 2, 3]
    mask = jnp.array([[True, True, False]])
    weights, log_probs, q = actions.evaluate(params, critics, jnp.zeros((1, 1)), None, mask)
    pi = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum()
    np.testing.assert_allclose(weights, [[pi[0], pi[1], 0.0]], rtol=1e-6)
    np.testing.assert_allclose(log_probs, [[np.log(pi[0]), np.log(pi[1]), 0.0]], rtol=1e-6)
    # V = sum over legal a of pi(a) (min_i Q_i(a) - alpha log pi(a)), at an alpha large enough that
    # the illegal action's lowest-float log-probability would overflow if it were kept
    expected = np.sum(pi * (np.array([0.0, 1.0]) - 5.0 * np.log(pi)))
    np.testing.assert_allclose(soft_value(weights, log_probs, q, alpha=5.0), [expected], rtol=1e-6)
    # H*: the scale times log of the number of legal actions, per state
    hyper = Hyper(target_entropy_scale=0.5)
    assert float(actions.target_entropy(hyper, mask)[0, 0]) == pytest.approx(0.5 * np.log(2))
    assert actions.target_entropy(hyper) == pytest.approx(0.5 * np.log(3))


def test_alpha_loss_and_its_gradient_lower_alpha_when_the_entropy_is_above_target():
    log_alpha = jnp.log(0.5)
    log_probs = jnp.array([[-1.0], [-2.0]])  # entropy estimate 1.5, target -1 (a Box action of size 1)
    loss, grad = jax.value_and_grad(alpha_loss)(log_alpha, jnp.ones((2, 1)), log_probs, -1.0, MASK)
    # mean(-0.5 (-1 - 1), -0.5 (-2 - 1)) = mean(1, 1.5)
    assert float(loss) == pytest.approx(1.25)
    assert float(grad) == pytest.approx(1.25)  # d/dlog(alpha) of -alpha x is -alpha x: positive, alpha falls
    # Discrete, uniform policy over 2 actions, target 0.5 log 2 below its entropy log 2: alpha falls too
    uniform = jnp.full((1, 2), 0.5)
    grad = jax.grad(alpha_loss)(log_alpha, uniform, jnp.log(uniform), 0.5 * np.log(2), jnp.array([True]))
    assert float(grad) == pytest.approx(-0.5 * (np.log(0.5) + 0.5 * np.log(2)), rel=1e-6)


# Box actions (the discrete kind shares every line of the population code; its learning test is below)
SMALL = dict(env="Pendulum-v1", total_steps=640, rollout_steps=8, learning_starts=32, batch_size=32, hidden=[16, 16])


def test_member_1_of_a_sac_population_equals_the_single_run_with_seed_1(run_chunks):
    population_state, population = run_chunks("sac", chunks=3, iterations=3, seeds=2, seed=0, **SMALL)
    single_state, single = run_chunks("sac", chunks=3, iterations=3, seeds=1, seed=1, **SMALL)
    assert population[-1]["qf_loss"][-1, 1] > 0  # the comparison covers gradient steps
    for chunk_population, chunk_single in zip(population, single, strict=True):
        for key in chunk_single:
            np.testing.assert_allclose(chunk_population[key][:, 1], chunk_single[key][:, 0], rtol=1e-4, atol=1e-5)
    member = jax.tree.map(lambda x: x[1], population_state.agent)
    alone = jax.tree.map(lambda x: x[0], single_state.agent)
    for name in ("actor", "critic", "target_critic", "log_alpha"):
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
            getattr(member, name),
            getattr(alone, name),
        )
    np.testing.assert_allclose(member.replay.action, alone.replay.action, rtol=1e-5, atol=1e-6)
    # Box actions: float vectors inside the bounds, uniformly random before learning_starts
    action = np.asarray(alone.replay.action)[:32, 0]  # [steps, A]
    assert alone.replay.action.dtype == np.float32 and action.shape == (32, 1)
    assert (np.abs(action) <= 2.0).all() and action.std() > 0.5  # uniform in [-2, 2]: std 1.15


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["envpool", "gymnax"])  # gymnax: Box actions in one fused program
def test_sac_solves_pendulum_within_budget(tmp_path, backend):
    config = resolve(
        get_algorithm("sac"), {"env": "Pendulum-v1", "backend": backend, "seed": 0, "logdir": str(tmp_path)}
    )
    assert config.target_return == -250 and config.static.hidden == (64, 64)
    run = train(config)["runs"][0]
    assert run["steps_to_target"] is not None, run
