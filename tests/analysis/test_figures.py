"""The figures module: legend labels that name only what differs, the ranked aggregate panel's
rows (IQM and CI from statistics.bootstrap_ci), and the compare/sweep and PBT figures written."""

import types

import numpy as np
import pytest

from jaxrl.analysis import figures, pbt_report
from jaxrl.analysis.statistics import Estimate, bootstrap_ci
from tests.analysis.test_compare import write_run


def is_png_drawing(path) -> bool:
    """A PNG of a sensible size with more than a blank canvas in it."""
    import matplotlib.image

    image = matplotlib.image.imread(path)
    colours = len(np.unique(image.reshape(-1, image.shape[-1]), axis=0))
    return 300 <= image.shape[0] <= 1500 and 600 <= image.shape[1] <= 1500 and colours > 50


def test_labels_name_only_what_differs_and_the_title_what_is_shared():
    sweep = [
        {"algo": "ppo", "run": "readme", "lr": "lr=1e-3", "ent_coef": "ent_coef=0", "runs": "4 runs"},
        {"algo": "ppo", "run": "readme", "lr": "lr=1e-3", "ent_coef": "ent_coef=0.01", "runs": "4 runs"},
        {"algo": "ppo", "run": "readme", "lr": "lr=1e-4", "ent_coef": "ent_coef=0", "runs": "4 runs"},
    ]
    assert figures.legend_labels(sweep) == (
        "ppo, readme, 4 runs",
        ["lr=1e-3, ent_coef=0", "lr=1e-3, ent_coef=0.01", "lr=1e-4, ent_coef=0"],
    )
    compared = [{"algo": "ppo", "run": "readme", "runs": "4 runs"}, {"algo": "a2c", "run": "readme", "runs": "3 runs"}]
    assert figures.legend_labels(compared) == ("readme", ["ppo, 4 runs", "a2c, 3 runs"])


def test_a_series_with_nothing_of_its_own_is_named_by_all_its_fields():
    plain, point = {"algo": "dqn", "run": "x"}, {"algo": "dqn", "run": "x", "lr": "lr=0.1"}
    assert figures.legend_labels([plain, point]) == ("dqn, x", ["dqn, x", "lr=0.1"])
    assert figures.legend_labels([plain]) == ("dqn, x", ["dqn, x"])


def test_each_label_keeps_its_own_order_of_fields():
    pbt = {"algo": "ppo", "run": "pbt", "runs": "16 runs"}
    sweep = {"algo": "ppo", "run": "sweep", "lr": "lr=1e-3", "runs": "4 runs"}
    assert figures.legend_labels([pbt, sweep]) == ("ppo", ["pbt, 16 runs", "sweep, lr=1e-3, 4 runs"])


def test_titles_wrap_between_fields():
    assert figures.wrapped("sweep, lr=3e-4, ent_coef=0.01, 4 runs", 22) == "sweep, lr=3e-4,\nent_coef=0.01, 4 runs"
    assert figures.wrapped("a_very_long_single_field_label", 10) == "a_very_long_single_field_label"


def test_aggregate_rows_are_ranked_and_carry_the_iqm_and_ci_of_statistics():
    scores = [np.array([1.0, 2.0, 3.0, 50.0]), np.array([10.0, 20.0, np.nan]), np.array([np.nan]), np.array([20.0])]
    rows = figures.ranked(["a", "b", "none", "c"], scores, areas=[0.0, 5.0, 0.0, 9.0])
    assert [row.label for row in rows] == ["c", "b", "a", "none"]  # IQMs 20, 15, 2.5; no score last
    for row in rows:
        expected = bootstrap_ci(scores[row.series])
        np.testing.assert_equal(tuple(row.estimate), tuple(expected))
        assert row.scores is scores[row.series]
    assert rows[1].estimate.value == pytest.approx(15.0) and rows[1].estimate.low < 15.0 < rows[1].estimate.high


def test_equal_iqms_go_to_the_larger_area_under_the_curve():
    at_max = [np.array([500.0, 500.0]), np.array([500.0, 500.0]), np.array([100.0, 120.0])]
    rows = figures.ranked(["slow", "fast", "low"], at_max, areas=[300.0, 450.0, 100.0])
    assert [row.label for row in rows] == ["fast", "slow", "low"]


@pytest.mark.parametrize("count", [2, 6])  # one overlay panel; small multiples
def test_the_curves_figure_is_written_with_its_ranked_rows(tmp_path, count):
    grid = np.linspace(0, 1000, 50)
    series = [
        figures.Series(
            {"algo": "ppo", "lr": f"lr={i}"},
            Estimate(grid * i / 1000, grid * i / 1000 - 5, grid * i / 1000 + 5),
            np.array([i - 1.0, i, i + 1.0]),
        )
        for i in range(count)
    ]
    rows = figures.curves_figure(series, grid, "CartPole-v1", tmp_path / "curves.png")
    assert [row.label for row in rows] == [f"lr={i}" for i in reversed(range(count))]
    assert is_png_drawing(tmp_path / "curves.png")


def test_the_pbt_figure_is_written_from_the_run_files(tmp_path):
    finals = {f"m{m:02d}": 100.0 + 10 * m for m in range(4)}
    run_dir = write_run(tmp_path, "CartPole-v1", "ppo", "pbt", finals)
    hyper = [{"lr": 1e-3 * (m + 1)} for m in range(4)]
    lineage = [[{"step": 0, "parent": None, "hyper": hyper[m]}] for m in range(4)]
    lineage[0].append({"step": 500, "parent": 3, "hyper": {"lr": 3.2e-3}})  # m00 took m03's networks
    schedule = pbt_report.ancestry(lineage, 0)
    assert [segment["member"] for segment in schedule] == [3, 0]
    config = types.SimpleNamespace(
        algo="ppo",
        env="CartPole-v1",
        pbt=types.SimpleNamespace(ranges={"lr": {"low": 1e-4, "high": 1e-2, "log": True}}),
    )
    runs = [
        {"run": name, "final_return": final, "diverged_at_step": None, "env_steps": 1000}
        for name, final in finals.items()
    ]
    pbt = {"lineage": dict(zip(finals, lineage, strict=True)), "ancestry": schedule}
    pbt_report.plot({"run_dir": str(run_dir), "runs": runs, "pbt": pbt}, config)
    assert is_png_drawing(run_dir / "pbt.png")
