"""Sweeps: flag parsing and the grid / random points, member k of a sweep equals the single run
with its hyperparameters and seed, a diverging member is frozen and reported while the others
train on, and `jaxrl sweep` end to end (tables, summary, curves, TensorBoard names and hparams)."""

import dataclasses
import json

import jax
import numpy as np
import pytest

from jaxrl.algos.ppo import Hyper
from jaxrl.analysis.sweep_report import point_rows, report
from jaxrl.cli import main
from jaxrl.errors import ConfigError
from jaxrl.search import (
    Range,
    format_value,
    grid_points,
    parse_values,
    plan,
    point_labels,
    python_values,
    random_points,
)
from jaxrl.training.population import population_of, sweep_population
from tests.algos.test_dqn import SMALL_DQN
from tests.test_cli import jaxrl

FIELDS = {field.name: field for field in dataclasses.fields(Hyper)}

CARTPOLE = dict(env="CartPole", num_envs=4, rollout_steps=32, update_epochs=2)


def test_parse_values_lists_ranges_and_their_errors():
    assert parse_values(FIELDS["lr"], "3e-4") == [3e-4]
    assert parse_values(FIELDS["lr"], "1e-4,3e-4,1e-3") == [1e-4, 3e-4, 1e-3]
    assert parse_values(FIELDS["lr"], "1e-5:1e-2:log") == Range(1e-5, 1e-2, True)
    assert parse_values(FIELDS["gamma"], "0.9:0.999") == Range(0.9, 0.999, False)
    for name, text, message in [
        ("lr", "1e-4,abc", "invalid --lr value 'abc': not a number"),
        ("lr", "0,1e-3", "invalid --lr 0.0: must be > 0"),
        ("gamma", "0.9,1.5", "invalid --gamma 1.5: must be in (0, 1]"),
        ("lr", "1e-3,1e-3", "a value is repeated"),
        ("lr", "1e-2:1e-5", "low must be below high"),
        ("ent_coef", "0:0.1:log", "a log range needs low > 0"),
        ("lr", "1e-5:1e-2:exp", "a range is low:high or low:high:log"),
    ]:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
            parse_values(FIELDS[name], text)


def test_python_values_are_the_same_values_as_the_flags_text():
    assert python_values(FIELDS["lr"], 3e-4) == [3e-4]
    assert python_values(FIELDS["lr"], [1e-4, 1e-3]) == parse_values(FIELDS["lr"], "1e-4,1e-3")
    assert python_values(FIELDS["lr"], (1e-5, 1e-2, "log")) == parse_values(FIELDS["lr"], "1e-5:1e-2:log")
    assert python_values(FIELDS["gamma"], (0.9, 0.999)) == Range(0.9, 0.999, False)
    for value, message in [
        ([1e-3, "x"], "invalid lr=[0.001, 'x']: expected numbers"),
        ([0.0, 1e-3], "invalid --lr 0.0: must be > 0"),
        ((1e-2, 1e-5), "low must be below high"),
        ((1e-5, 1e-2, "exp"), "a range is (low, high) or (low, high, 'log')"),
    ]:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
            python_values(FIELDS["lr"], value)


def test_grid_is_every_combination_first_flag_slowest_and_refuses_ranges():
    points = grid_points({"lr": [1e-4, 3e-4, 1e-3], "ent_coef": [0.0, 0.01]})
    assert len(points) == 6
    assert points[:3] == [
        {"lr": 1e-4, "ent_coef": 0.0},
        {"lr": 1e-4, "ent_coef": 0.01},
        {"lr": 3e-4, "ent_coef": 0.0},
    ]
    with pytest.raises(ConfigError, match="--lr is a range: add --random N"):
        grid_points({"lr": Range(1e-5, 1e-2, True)})


def test_random_points_are_seeded_and_stay_in_their_ranges():
    values = {"lr": Range(1e-5, 1e-2, True), "gamma": Range(0.9, 0.999, False), "ent_coef": [0.0, 0.01]}
    points = random_points(values, 200, seed=3)
    assert points == random_points(values, 200, seed=3) and points != random_points(values, 200, seed=4)
    lr = np.array([p["lr"] for p in points])
    assert np.all((lr >= 1e-5) & (lr <= 1e-2))
    # log-uniform: about a third of the draws in each decade
    assert 0.2 < np.mean(lr < 1e-4) < 0.45 and 0.2 < np.mean(lr > 1e-3) < 0.45
    assert all(0.9 <= p["gamma"] <= 0.999 for p in points)
    assert {p["ent_coef"] for p in points} == {0.0, 0.01}


def test_random_points_from_lists_alone_are_distinct_points_of_the_grid():
    values = {"lr": [1e-4, 1e-3], "gamma": [0.9, 0.99]}
    points = random_points(values, 3, seed=0)
    assert len({tuple(p.values()) for p in points}) == 3 and all(p in grid_points(values) for p in points)
    with pytest.raises(ConfigError, match="--random 5: the lists give only 4 distinct points"):
        random_points(values, 5, seed=0)


def test_labels_take_more_digits_only_where_points_would_share_one():
    assert point_labels([{"lr": 1.00001e-3}, {"lr": 1.00002e-3}, {"lr": 3e-4}]) == [
        "lr=0.00100001",
        "lr=0.00100002",
        "lr=3e-4",
    ]
    points = random_points({"gamma": Range(0.99, 0.991, False)}, 50, seed=0)
    assert len(set(point_labels(points))) == 50


def test_names_carry_the_point_and_the_seed_member_order_is_point_major():
    assert [format_value(v) for v in (3e-4, 0.01, 0.95, 1e-5, 2.5e-4, 0.0, 1.0)] == [
        "3e-4",
        "0.01",
        "0.95",
        "1e-5",
        "2.5e-4",
        "0",
        "1",
    ]
    points = [{"lr": 3e-4, "ent_coef": 0.01}, {"lr": 1e-3, "ent_coef": 0.0}]
    assert point_labels(points) == ["lr=3e-4,ent_coef=0.01", "lr=1e-3,ent_coef=0"]
    defaults = {f: getattr(Hyper(), f) for f in ("lr", "gamma", "gae_lambda", "clip_eps", "ent_coef", "vf_coef")}
    defaults["max_grad_norm"] = 0.5
    population = sweep_population(Hyper, defaults, points, seeds=[0, 1, 2])
    assert population.names[2] == "lr=3e-4,ent_coef=0.01,s2" and population.names[3] == "lr=1e-3,ent_coef=0,s0"
    assert population.seeds == [0, 1, 2, 0, 1, 2]
    np.testing.assert_allclose(population.hyper.lr, [3e-4] * 3 + [1e-3] * 3)
    np.testing.assert_allclose(population.hyper.gamma, [defaults["gamma"]] * 6)


def test_points_rank_by_iqm_and_a_point_that_diverged_ranks_last():
    def run(final, diverged=None):
        return {"final_return": final, "diverged_at_step": diverged, "steps_to_target": None}

    summary = {
        "runs": [run(10.0), run(20.0), run(30.0), run(40.0)]  # point 0: IQM 25
        + [run(100.0), run(100.0), run(100.0), run(0.0, diverged=512)]  # point 1: one seed diverged
        + [run(50.0), run(60.0), run(70.0), run(500.0)]  # point 2: IQM 65 (the outlier trimmed)
    }
    rows = point_rows(summary, [{"lr": 1.0}, {"lr": 2.0}, {"lr": 3.0}])
    assert [row["label"] for row in rows] == ["lr=3", "lr=1", "lr=2"]
    assert rows[0]["iqm"] == pytest.approx(65.0) and rows[1]["iqm"] == pytest.approx(25.0)
    assert rows[0]["mean"] == pytest.approx(170.0)
    assert rows[2]["diverged"] == 1 and rows[2]["iqm"] == pytest.approx(100.0)
    assert rows[1]["ci"][0] <= 25.0 <= rows[1]["ci"][1]


def sweep_of(points):
    def population(algorithm, config):
        return sweep_population(algorithm.Hyper, dataclasses.asdict(config.hyper), points, config.run_seeds)

    return population


def test_member_k_of_a_sweep_equals_the_single_run_with_its_point_and_seed(run_chunks):
    points = grid_points({"lr": [1e-3, 3e-3], "ent_coef": [0.0, 0.01]})
    _, sweep = run_chunks("ppo", seeds=2, seed=0, population=sweep_of(points), **CARTPOLE)
    member = 5  # point 2 (lr 3e-3, ent_coef 0), seed 1
    assert points[2] == {"lr": 3e-3, "ent_coef": 0.0}
    _, single = run_chunks("ppo", seeds=1, seed=1, lr=3e-3, ent_coef=0.0, **CARTPOLE)
    for chunk_sweep, chunk_single in zip(sweep, single, strict=True):
        for key in chunk_single:
            np.testing.assert_allclose(chunk_sweep[key][:, member], chunk_single[key][:, 0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "algo, options",
    [
        ("a2c", dict(env="CartPole", num_envs=4, rollout_steps=8)),
        ("reinforce", dict(env="CartPole", num_envs=4, rollout_steps=64)),
        ("ddqn", SMALL_DQN),
        ("pqn", dict(env="CartPole", num_envs=4, rollout_steps=16, num_minibatches=4, update_epochs=2)),
    ],
)
def test_every_algorithm_sweeps_its_hyperparameters_member_by_member(run_chunks, algo, options):
    points = [{"lr": 1e-3, "gamma": 0.99}, {"lr": 3e-3, "gamma": 0.9}]
    _, sweep = run_chunks(algo, chunks=2, seeds=1, population=sweep_of(points), **options)
    _, single = run_chunks(algo, chunks=2, seeds=1, lr=3e-3, gamma=0.9, **options)
    for chunk_sweep, chunk_single in zip(sweep, single, strict=True):
        for key in chunk_single:
            np.testing.assert_allclose(chunk_sweep[key][:, 1], chunk_single[key][:, 0], rtol=1e-5, atol=1e-6)
    losses = [key for key in single[-1] if "loss" in key]
    assert losses and all(np.any(sweep[-1][key][:, 0] != sweep[-1][key][:, 1]) for key in losses)


def test_a_diverging_member_is_frozen_and_flagged_while_the_others_are_untouched(run_chunks):
    state, sweep = run_chunks("ppo", seeds=1, population=sweep_of([{"lr": 1e-3}, {"lr": 1e30}]), **CARTPOLE)
    # the same program with a healthy second member: member 0 must not notice the difference
    healthy_state, healthy = run_chunks("ppo", seeds=1, population=sweep_of([{"lr": 1e-3}, {"lr": 2e-3}]), **CARTPOLE)
    for chunk_sweep, chunk_healthy in zip(sweep, healthy, strict=True):
        for key in chunk_healthy:
            np.testing.assert_array_equal(chunk_sweep[key][:, 0], chunk_healthy[key][:, 0], err_msg=key)
        np.testing.assert_array_equal(chunk_sweep["diverged_at"][:, 1], 128)  # its first update: 4 envs x 32
    assert np.all(state.diverged_at == [-1, 128]) and np.all(healthy_state.diverged_at == -1)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(a[0], b[0]), state.agent.params, healthy_state.agent.params)
    for leaf in jax.tree.leaves((state.agent.params, state.agent.opt_state)):
        assert np.all(np.isfinite(np.asarray(leaf)[1])), "the frozen member keeps its last finite networks"


def test_bad_sweep_inputs_are_one_line_exit_2_and_write_nothing(tmp_path, capsys):
    for argv, message in [
        (["--num-envs", "4,8"], "--num-envs 4,8: only numeric hyperparameters can be swept in one program"),
        (["--ent-coeff", "0,0.01"], "unknown flag --ent-coeff for jaxrl sweep ppo; did you mean --ent-coef?"),
        (["--lr", "1e-4,1e-3", "--random", "3"], "--random 3: the lists give only 2 distinct points"),
        (["--hidden=64,64"], "sweep --hidden with separate runs"),
        (["--lr", "3e-4"], "nothing to sweep"),
        (["--lr", "1e-5:1e-2:log"], "--lr is a range: add --random N"),
        (["--lr", "1e-5:1e-2:log", "--random", "0"], "invalid --random 0: must be an integer >= 1"),
        (["--lr", "0,1e-3"], "invalid --lr 0.0: must be > 0"),
        (["--lr", "1e-4,1e-3", "--num-minibatches", "3"], "is not divisible by num_minibatches = 3"),
    ]:
        assert main(["sweep", "ppo", *argv, "--logdir", str(tmp_path / "runs")]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("jaxrl: error: ") and message in err, (argv, err)
    assert not (tmp_path / "runs").exists()


def test_sweep_end_to_end_table_summary_curves_and_tensorboard_names(tmp_path):
    result = jaxrl(
        "sweep", "ppo", "--seeds", "2", "--lr", "1e-3,1e30", "--ent-coef", "0,0.01", "--total-steps", "2560",
        "--log-every", "1280", "--logdir", str(tmp_path), "--name", "sw",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "CartPole-v1" / "ppo" / "sw"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert len(summary["runs"]) == 8 and [row["diverged"] for row in summary["points"]] == [0, 0, 2, 2]
    assert {row["label"] for row in summary["points"][:2]} == {"lr=1e-3,ent_coef=0", "lr=1e-3,ent_coef=0.01"}
    assert all(run["final_return"] is not None for run in summary["runs"][:4])
    assert "diverged at env step 256" in result.stderr
    table = (run_dir / "sweep.md").read_text()
    assert "| 1 | lr=1e-3" in table and "2/2" in table and table.strip().endswith(result.stdout.strip()[-40:])
    assert (run_dir / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    members = sorted(path.name for path in run_dir.iterdir() if path.is_dir() and path.name != "checkpoints")
    assert members[0] == "lr=1e-3,ent_coef=0,s0" and len(members) == 8
    assert_hparams_logged(run_dir / "lr=1e-3,ent_coef=0.01,s1", {"lr": 1e-3, "ent_coef": 0.01, "seed": 1.0})
    config = json.loads((run_dir / "config.json").read_text())
    assert len(config["sweep"]["points"]) == 4 and config["sweep"]["values"]["lr"] == [1e-3, 1e30]


def test_text_flags_may_hold_commas_and_colons():
    from jaxrl.cli import check_flags, check_sweep_argv

    argv = ["sweep", "ppo", "--lr", "1e-4,1e-3", "--name", "a,b", "--logdir", "/tmp/x:y"]
    check_sweep_argv(argv)
    check_flags(argv)


def test_the_report_of_a_sweep_without_a_finished_episode_has_no_curves(tmp_path):
    from jaxrl.algos import get_algorithm

    algorithm = get_algorithm("ppo")
    config = plan(algorithm, {"logdir": str(tmp_path), "name": "short"}, {"lr": [1e-4, 1e-3]})
    population = population_of(algorithm, config)
    run_dir = tmp_path / "short"
    for name in population.names:
        (run_dir / name).mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_json()))
    runs = [
        {"run": name, "final_return": None, "diverged_at_step": None, "steps_to_target": None}
        for name in population.names
    ]
    _, text = report({"run_dir": str(run_dir), "total_steps": 256, "runs": runs}, config)
    assert "| 1 | lr=1e-4 | - | - | 0/1 |" in text and not (run_dir / "learning_curves.png").exists()


def test_a_sweep_where_every_member_diverged_exits_1(tmp_path):
    result = jaxrl(
        "sweep", "ppo", "--lr", "1e30,1e31", "--total-steps", "2560", "--logdir", str(tmp_path), "--name", "nan",
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("jaxrl: error: every member diverged")


def assert_hparams_logged(member_dir, expected: dict):
    """TensorBoard's hparams plugin sees the member's point, seed and final return."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    events = EventAccumulator(str(member_dir)).Reload()
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    for name, value in expected.items():
        assert hparams[name].number_value == pytest.approx(value), name
    assert "hparams/final_return" in events.Tags()["scalars"]
