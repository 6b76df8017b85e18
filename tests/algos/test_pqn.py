"""PQN: its loss on hand values, config checks, LayerNorm networks, population members equal to
single runs, a sweep of lr x lambda x seeds in one program, and CartPole learnt, evaluated
greedily and resumed. (The Q(lambda) returns by hand: tests/core/test_returns.py.)"""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.algos import get_algorithm
from jaxrl.algos.pqn import Static, check, q_lambda_loss
from jaxrl.cli import main
from jaxrl.config import resolve
from jaxrl.core.networks import QNetwork
from tests.conftest import assert_member_is_the_single_run, train
from tests.training.test_checkpoints import saved_arrays


def test_loss_is_half_the_squared_error_of_the_taken_actions_q_over_valid_steps():
    q_values = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    batch = {
        "action": jnp.array([1, 0, 1]),
        "returns": jnp.array([1.0, 6.0, -100.0]),
        "valid": jnp.array([True, True, False]),  # the last is a reset step
    }
    loss, metrics = q_lambda_loss(q_values, batch)
    # taken: 2 and 3; errors 1 and -3: 0.5 * (1 + 9) / 2
    assert float(loss) == pytest.approx(2.5)
    assert float(metrics["q_values"]) == pytest.approx(2.5)


def test_check_rejects_minibatches_that_do_not_divide_the_rollout():
    with pytest.raises(ValueError, match="num_envs \\* rollout_steps = 2048 is not divisible by num_minibatches = 3"):
        check(Static(num_minibatches=3))
    check(Static(num_minibatches=32))


@pytest.mark.parametrize("obs_shape, layers", [((4,), 2), ((4, 84, 84), 4)])
def test_layer_norm_follows_every_hidden_layer_and_is_absent_by_default(obs_shape, layers):
    def parameter_names(layer_norm):
        network = QNetwork(2, obs_shape, (16, 16), layer_norm)
        shapes = jax.eval_shape(network.init, jax.random.PRNGKey(0), jnp.zeros((1, *obs_shape)))
        return [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_leaves_with_path(shapes)]

    plain, normed = parameter_names(False), parameter_names(True)
    assert sum("LayerNorm" in name and "scale" in name for name in normed) == layers  # the MLP's 2, the CNN's 4
    assert not any("LayerNorm" in name for name in plain)
    # the other layers keep their names: DQN's parameters are what they were
    assert [name for name in normed if "LayerNorm" not in name] == plain


SMALL_PQN = dict(env="CartPole", num_envs=4, rollout_steps=16, num_minibatches=4, update_epochs=2, total_steps=640)


def test_member_1_of_pqn_population_equals_single_run_with_seed_1(run_chunks):
    population_state, population = run_chunks("pqn", chunks=3, seeds=2, seed=0, **SMALL_PQN)
    single_state, single = run_chunks("pqn", chunks=3, seeds=1, seed=1, **SMALL_PQN)
    assert population[-1]["td_loss"][-1, 1] > 0
    assert population[-1]["epsilon"][-1, 1] < 1.0  # epsilon has started to fall
    assert_member_is_the_single_run(population, single, member=1)
    member = jax.tree.map(lambda x: x[1], population_state.agent)
    alone = jax.tree.map(lambda x: x[0], single_state.agent)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), member, alone)


def test_a_sweep_of_lr_and_lambda_over_3_seeds_trains_18_members_in_one_program(tmp_path, capsys):
    argv = ["sweep", "pqn", "--lr", "1e-4,3e-4", "--q-lambda", "0.5,0.65,0.8", "--seeds", "3"]
    small = ["--num-envs", "4", "--rollout-steps", "16", "--num-minibatches", "2", "--total-steps", "128"]
    assert main([*argv, *small, "--logdir", str(tmp_path), "--name", "grid"]) == 0
    summary = json.loads((tmp_path / "CartPole-v1" / "pqn" / "grid" / "summary.json").read_text())
    assert len(summary["runs"]) == 18 and len(summary["points"]) == 6
    assert {(r["hyper"]["lr"], r["hyper"]["q_lambda"]) for r in summary["runs"]} == {
        (lr, q_lambda) for lr in (1e-4, 3e-4) for q_lambda in (0.5, 0.65, 0.8)
    }
    assert "q_lambda=0.65" in capsys.readouterr().out


def cartpole_preset(tmp_path, **options):
    return resolve(get_algorithm("pqn"), {"env": "CartPole", "seed": 0, "logdir": str(tmp_path), **options})


@pytest.mark.slow
def test_eval_plays_greedily_on_q(tmp_path, capsys):
    # the whole budget (an unreachable target): when the training mean first reaches 450 the
    # greedy policy is not yet reliable (seed 0: greedy games of 154-500 steps at 35k steps)
    run_dir = train(cartpole_preset(tmp_path, target_return=1000.0))["run_dir"]
    assert main(["eval", run_dir, "--episodes", "4", "--seed", "0"]) == 0
    assert "greedy" in capsys.readouterr().out
    returns = json.loads((Path(run_dir) / "eval.json").read_text())["members"]["s0"]["returns"]
    assert np.mean(returns) >= 475, returns


@pytest.mark.slow
def test_a_resumed_run_continues_its_lr_and_epsilon_schedules(tmp_path):
    config = resolve(
        get_algorithm("pqn"), {**SMALL_PQN, "total_steps": 1280, "log_every": 128, "logdir": str(tmp_path)}
    )
    stopped = train(config, should_stop=lambda env_steps: env_steps >= 640)
    assert stopped["interrupted_by"] == "request"
    summary = train(config, resume=stopped["run_dir"])
    assert summary["interrupted_by"] is None and summary["runs"][0]["env_steps"] == 1280
    agent = saved_arrays(Path(summary["run_dir"]))["agent"]
    assert int(agent["iteration"][0]) == 1280 // 64  # every rollout learnt from once, across the stop
    assert float(agent["epsilon"][0]) == pytest.approx(0.05)  # exploration_fraction 0.1 of 1280 steps: at its end
