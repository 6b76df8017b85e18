"""DQN and Double DQN: TD targets, losses and the epsilon schedule on hand values, config checks,
a replay buffer updated in place, population members equal to single runs, and both learning
CartPole."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.algos import get_algorithm
from jaxrl.algos.dqn import Hyper, Static, check, epsilon_at, q_loss, td_target
from jaxrl.config import resolve
from tests.conftest import assert_member_is_the_single_run, build_programs


def three_transitions():
    """Rewards, terminated flags and next-state Q values of a terminal, a truncated (terminated is
    False there: the replay keeps no truncation flag) and a normal transition. The two networks
    disagree on every argmax: the target picks actions [1, 0, 1], the online one [0, 1, 0]."""
    reward = jnp.array([1.0, 2.0, 3.0])
    terminated = jnp.array([True, False, False])
    next_q_target = jnp.array([[1.0, 5.0], [4.0, 2.0], [3.0, 6.0]])
    next_q_online = jnp.array([[9.0, 0.0], [0.0, 9.0], [9.0, 0.0]])
    return reward, terminated, next_q_target, next_q_online


def test_dqn_target_bootstraps_the_target_networks_max_except_after_termination():
    target = td_target(*three_transitions(), gamma=0.5, double_q=False)
    # terminal: 1;  truncated: 2 + 0.5 * max(4, 2) = 4;  normal: 3 + 0.5 * max(3, 6) = 6
    np.testing.assert_allclose(target, [1.0, 4.0, 6.0], rtol=1e-6)


def test_double_dqn_target_evaluates_the_online_networks_argmax_with_the_target_network():
    target = td_target(*three_transitions(), gamma=0.5, double_q=True)
    # terminal: 1;  truncated: online picks 1 -> 2 + 0.5 * 2 = 3;  normal: online picks 0 -> 3 + 0.5 * 3 = 4.5
    np.testing.assert_allclose(target, [1.0, 3.0, 4.5], rtol=1e-6)


# errors q - y: -0.5 (inside Huber's quadratic zone), -3 (linear zone), 0, and a masked 200
Q_TAKEN = jnp.array([1.0, 0.0, 5.0, 100.0])
TARGET = jnp.array([1.5, 3.0, 5.0, -100.0])
MASK = jnp.array([True, True, True, False])


def test_huber_loss_is_quadratic_below_one_and_linear_above():
    # (0.5 * 0.5^2 + 1 * (3 - 0.5) + 0) / 3 = (0.125 + 2.5) / 3
    assert float(q_loss(Q_TAKEN, TARGET, MASK, "huber")) == pytest.approx(2.625 / 3, rel=1e-6)


def test_mse_loss_is_the_plain_squared_error():
    # (0.5^2 + 3^2 + 0) / 3 = 9.25 / 3
    assert float(q_loss(Q_TAKEN, TARGET, MASK, "mse")) == pytest.approx(9.25 / 3, rel=1e-6)


def test_q_loss_of_an_all_masked_batch_is_zero():
    assert float(q_loss(Q_TAKEN, TARGET, jnp.zeros(4, bool), "mse")) == 0.0


@pytest.mark.parametrize(
    "env_steps, epsilon",
    [
        (0, 1.0),
        (250, 0.525),  # halfway through the decay: 1 + 0.5 * (0.05 - 1)
        (500, 0.05),  # exploration_fraction 0.5 of 1000 steps: the decay ends here
        (1000, 0.05),  # and stays at end_e
    ],
)
def test_epsilon_falls_linearly_to_end_e_over_the_exploration_fraction(env_steps, epsilon):
    hyper = Hyper(start_e=1.0, end_e=0.05, exploration_fraction=0.5)
    assert float(epsilon_at(env_steps, hyper, total_steps=1000)) == pytest.approx(epsilon, abs=1e-6)


def test_check_rejects_train_every_that_does_not_divide_the_rollout():
    with pytest.raises(ValueError, match="num_envs \\* rollout_steps = 30 is not a multiple of train_every = 4"):
        check(Static(num_envs=3, rollout_steps=10, train_every=4))
    check(Static(num_envs=3, rollout_steps=10, train_every=5))


def test_check_rejects_a_buffer_below_rollout_steps_plus_4_per_env():
    # 2 envs, rollouts of 10: every env needs 14 slots, so 28 transitions in all; 26 gives 13 each
    with pytest.raises(ValueError, match="too small for 2 envs"):
        check(Static(num_envs=2, rollout_steps=10, train_every=2, buffer_size=26))
    check(Static(num_envs=2, rollout_steps=10, train_every=2, buffer_size=28))


def test_update_writes_the_replay_buffer_in_place():
    programs, state, handle, hyper, env = build_programs(
        "dqn", env="CartPole", num_envs=2, rollout_steps=8, buffer_size=1000, batch_size=8, learning_starts=0
    )
    try:
        state, handle, traj, ended = programs.collect(state, handle)
        replay = state.agent.replay
        fields = ("obs", "action", "reward", "terminated", "valid", "stack_start")
        addresses = {name: getattr(replay, name).unsafe_buffer_pointer() for name in fields}
        state, _ = programs.update(state, traj, ended, hyper)
        # donated, and the new buffer lives at the old address: written in place, never copied
        for name in fields:
            assert getattr(replay, name).is_deleted(), name
            assert getattr(state.agent.replay, name).unsafe_buffer_pointer() == addresses[name], name
        assert int(state.agent.replay.count[0]) == 8
    finally:
        env.close()


# Training starts after the first rollout (64 env steps), so later chunks take gradient steps.
SMALL_DQN = dict(
    env="CartPole",
    num_envs=4,
    rollout_steps=16,
    buffer_size=1000,
    batch_size=32,
    train_every=4,
    learning_starts=64,
    target_update_every=64,
    total_steps=2560,
)


def test_member_1_of_dqn_population_equals_single_run_with_seed_1(run_chunks):
    population_state, population = run_chunks("dqn", chunks=3, seeds=2, seed=0, **SMALL_DQN)
    single_state, single = run_chunks("dqn", chunks=3, seeds=1, seed=1, **SMALL_DQN)
    assert population[-1]["td_loss"][-1, 1] > 0  # the comparison covers gradient steps
    assert_member_is_the_single_run(population, single, member=1)
    member = jax.tree.map(lambda x: x[1], population_state.agent)
    alone = jax.tree.map(lambda x: x[0], single_state.agent)
    for params in ("params", "target_params"):
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
            getattr(member, params),
            getattr(alone, params),
        )
    # the same actions in the same envs: the very same transitions were stored
    jax.tree.map(np.testing.assert_array_equal, member.replay, alone.replay)


@pytest.mark.parametrize("algo", ["dqn", "ddqn"])
def test_ddqn_is_dqn_with_double_q(algo):
    assert resolve(get_algorithm(algo), {"env": "CartPole"}).static.double_q == (algo == "ddqn")
