"""`jaxrl compare` on synthetic run dirs written with tensorboardX, as the runner writes them:
grouping and labels, step curves, final IQMs against hand computation, the PNG and markdown
outputs, the episodic_return fallback and the one-line errors."""

import json

import numpy as np
import pytest
from tensorboardX import SummaryWriter

from jaxrl.analysis.compare import (
    CompareError,
    Member,
    final_returns,
    group_curve,
    load_groups,
    main,
    member_dirs,
    member_point,
    step_grid,
    value_at,
)
from jaxrl.analysis.statistics import iqm

SWEEP_FINALS = {"lr=0.001": [100.0, 200.0, 300.0], "lr=0.01": [400.0, 500.0, 450.0]}
PLAIN_FINALS = [-100.0, -80.0, -90.0]


def write_run(root, env, algo, name, finals, tag="charts/recent_return", last_steps=None, other_tag=None):
    """A run dir whose member m logs `tag` = finals[m] * step / last_step every 100 steps up to its
    last step (1000 unless given), so each member ends exactly at its final return."""
    run_dir = root / env / algo / name
    run_dir.mkdir(parents=True)
    config = dict(algo=algo, env=env, seed=0, seeds=3, name=name, static={}, hyper={"lr": 0.001})
    (run_dir / "config.json").write_text(json.dumps(config))
    last_steps = last_steps or {}
    for member, final in finals.items():
        writer = SummaryWriter(str(run_dir / member))
        last_step = last_steps.get(member, 1000)
        for step in range(100, last_step + 1, 100):
            writer.add_scalar(tag, final * step / last_step, step)
            writer.add_scalar("losses/value_loss", 1.0, step)
            if other_tag:
                writer.add_scalar(other_tag, -1.0, step)
        writer.close()
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runs/CartPole-v1/ppo/sweep: two points x 3 seeds, one member stopping at step 900;
    runs/Acrobot-v1/dqn/plain: s0, s1, s2."""
    root = tmp_path_factory.mktemp("runs")
    sweep = {f"{point},s{seed}": final for point, finals in SWEEP_FINALS.items() for seed, final in enumerate(finals)}
    write_run(
        root, "CartPole-v1", "ppo", "sweep", sweep, last_steps={"lr=0.01,s1": 900}, other_tag="charts/episodic_return"
    )
    write_run(root, "Acrobot-v1", "dqn", "plain", {f"s{seed}": final for seed, final in enumerate(PLAIN_FINALS)})
    return root


def table_rows(markdown: str, env: str) -> list[list[str]]:
    """The cells of the data rows of `env`'s table."""
    section = markdown.split(f"## {env}\n")[1].split("\n## ")[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")][1:]  # skip the header
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


@pytest.mark.parametrize(
    "member, point",
    [
        ("s0", ""),
        ("s12", ""),
        ("lr=3e-4,ent_coef=0.01,s2", "lr=3e-4,ent_coef=0.01"),
        ("lr=0.1,s0", "lr=0.1"),
        ("m03", ""),  # PBT members: a population is one group, as seeds are
        ("p1-m03", ""),
    ],
)
def test_member_point_is_everything_before_the_seed(member, point):
    assert member_point(member) == point


def test_groups_are_the_points_of_a_sweep_and_the_seeds_of_a_plain_run(runs):
    groups = load_groups([str(runs)])
    assert [(group.env, group.label) for group in groups] == [
        ("Acrobot-v1", "dqn plain"),
        ("CartPole-v1", "ppo sweep [lr=0.001]"),
        ("CartPole-v1", "ppo sweep [lr=0.01]"),
    ]
    assert [member.name for member in groups[2].members] == ["lr=0.01,s0", "lr=0.01,s1", "lr=0.01,s2"]


def test_a_run_given_twice_is_read_once(runs):
    run_dir = runs / "Acrobot-v1" / "dqn" / "plain"
    assert len(load_groups([str(run_dir), str(runs), str(run_dir)])) == 3


def test_final_return_is_the_last_recent_return_not_the_episodic_one(runs):
    groups = {group.label: group for group in load_groups([str(runs)])}
    np.testing.assert_allclose(final_returns(groups["ppo sweep [lr=0.01]"]), SWEEP_FINALS["lr=0.01"])
    np.testing.assert_allclose(final_returns(groups["dqn plain"]), PLAIN_FINALS)


def test_value_at_is_the_last_value_logged_at_or_before_each_step():
    member = Member("s0", np.array([10, 20, 20, 30]), np.array([1.0, 2.0, 3.0, 4.0]))
    grid = np.array([0, 9, 10, 15, 20, 29, 30, 40])
    np.testing.assert_array_equal(value_at(member, grid), [np.nan, np.nan, 1.0, 1.0, 3.0, 3.0, 4.0, 4.0])
    empty = Member("s1", np.array([], np.int64), np.array([]))
    assert np.isnan(value_at(empty, grid)).all()


def test_grid_ends_at_the_shortest_member_and_curves_follow_the_logs(runs):
    cartpole = [group for group in load_groups([str(runs)]) if group.env == "CartPole-v1"]
    grid = step_grid(cartpole)
    np.testing.assert_allclose(grid, np.linspace(0, 900, 100))
    curve = group_curve(cartpole[0], grid)  # lr=0.001, members end at step 1000
    assert np.isnan(curve.value[grid < 100]).all()
    expected_at_900 = iqm(np.array(SWEEP_FINALS["lr=0.001"]) * 0.9)
    assert curve.value[-1] == pytest.approx(expected_at_900)
    assert curve.low[-1] <= curve.value[-1] <= curve.high[-1]


def test_main_writes_one_png_per_env_and_ranked_results(runs, tmp_path):
    import matplotlib.image

    out = tmp_path / "comparison"
    markdown = main([str(runs)], str(out))
    assert sorted(path.name for path in out.iterdir()) == ["Acrobot-v1.png", "CartPole-v1.png", "results.md"]
    for env in ("Acrobot-v1", "CartPole-v1"):
        image = matplotlib.image.imread(out / f"{env}.png")
        assert 300 <= image.shape[0] <= 2000 and 300 <= image.shape[1] <= 2000
        assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 10  # more than a blank canvas
    assert (out / "results.md").read_text() == markdown

    rows = table_rows(markdown, "CartPole-v1")
    assert [row[0] for row in rows] == ["ppo sweep [lr=0.01]", "ppo sweep [lr=0.001]"]  # best first
    assert rows[0][1].startswith("450.0 [") and rows[0][2:] == ["450.0", "3"]
    assert rows[1][1].startswith("200.0 [") and rows[1][2:] == ["200.0", "3"]
    low, high = (float(bound) for bound in rows[1][1].split("[")[1].rstrip("]").split(","))
    assert 100.0 <= low < 200.0 < high <= 300.0
    (acrobot,) = table_rows(markdown, "Acrobot-v1")
    assert acrobot[0] == "dqn plain" and acrobot[1].startswith("-90.0 [") and acrobot[2:] == ["-90.0", "3"]


def test_runs_without_recent_return_fall_back_to_episodic_return(tmp_path):
    finals = {"s0": 3.0, "s1": 100.0, "s2": 1.0, "s3": 2.0}
    run_dir = write_run(tmp_path, "Pong-v5", "ppo", "cleanrl", finals, tag="charts/episodic_return")
    (group,) = load_groups([str(run_dir)])
    np.testing.assert_allclose(final_returns(group), [3.0, 100.0, 1.0, 2.0])
    (row,) = table_rows(main([str(run_dir)], str(tmp_path / "out")), "Pong-v5")
    assert row[0] == "ppo cleanrl"
    assert row[1].startswith("2.5 [")  # IQM drops 1 and 100
    assert row[2:] == ["26.5", "4"]


def assert_one_line_error(paths, *expected_parts):
    with pytest.raises(CompareError) as error:
        load_groups(paths)
    message = str(error.value)
    assert "\n" not in message
    for part in expected_parts:
        assert part in message


def test_a_missing_path_is_a_one_line_error(tmp_path):
    missing = tmp_path / "nope"
    assert_one_line_error([str(missing)], str(missing), "no such")


def test_a_folder_without_runs_is_a_one_line_error(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    assert_one_line_error([str(tmp_path / "empty")], str(tmp_path / "empty"), "no runs")


def test_a_run_without_event_data_is_a_one_line_error(tmp_path, runs):
    run_dir = tmp_path / "CartPole-v1" / "ppo" / "crashed"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(dict(algo="ppo", env="CartPole-v1", name="crashed")))
    assert_one_line_error([str(runs), str(tmp_path)], str(run_dir), "charts/recent_return")


def test_members_are_ordered_by_point_then_seed_number(tmp_path):
    for member in ("s10", "s2", "lr=0.01,s1", "lr=0.001,s11", "lr=0.001,s3"):
        (tmp_path / member).mkdir()
        (tmp_path / member / "events.out.tfevents.0").touch()
    (tmp_path / "no_events").mkdir()
    assert [folder.name for folder in member_dirs(tmp_path)] == [
        "s2",
        "s10",
        "lr=0.001,s3",
        "lr=0.001,s11",
        "lr=0.01,s1",
    ]
