"""Aggregate statistics: the IQM against hand-computed values and scipy.stats.trim_mean, the
bootstrap intervals against hand-computable cases, scipy.stats.bootstrap and stratification."""

import numpy as np
import pytest
import scipy.stats

from jaxrl.analysis.statistics import Estimate, bootstrap_ci, bootstrap_curve_ci, iqm


def mean(samples, axis):
    return np.mean(samples, axis=axis)


@pytest.mark.parametrize(
    "scores, expected",
    [
        ([4.0, 1.0, 3.0, 2.0], 2.5),  # n=4: drop 1 and 4
        ([10.0, 0.0, 2.0, 1.0, 3.0], 2.0),  # n=5: drop one each end -> mean(1, 2, 3)
        ([8.0, 1.0, 7.0, 2.0, 6.0, 3.0, 5.0, 4.0], 4.5),  # n=8: drop two each end -> mean(3, 4, 5, 6)
        ([1.0, 100.0, 2.0], 34.333333333333336),  # n=3: int(0.75) = 0, nothing dropped
        ([7.0], 7.0),
    ],
)
def test_iqm_matches_hand_computation(scores, expected):
    assert iqm(scores) == pytest.approx(expected)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 10, 33, 100])
def test_iqm_matches_scipy_trim_mean(n):
    scores = np.random.default_rng(n).normal(size=n) * 10
    assert iqm(scores) == pytest.approx(scipy.stats.trim_mean(scores, 0.25))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_iqm_along_an_axis_matches_scipy_trim_mean(axis):
    scores = np.random.default_rng(0).exponential(size=(9, 6))
    np.testing.assert_allclose(iqm(scores, axis=axis), scipy.stats.trim_mean(scores, 0.25, axis=axis))
    assert iqm(scores) == pytest.approx(scipy.stats.trim_mean(scores, 0.25, axis=None))


def test_bootstrap_of_equal_scores_is_a_zero_width_interval_at_that_value():
    assert bootstrap_ci([3.0] * 6) == pytest.approx(Estimate(3.0, 3.0, 3.0))


def test_bootstrap_of_one_run_is_a_zero_width_interval():
    assert bootstrap_ci([42.0]) == pytest.approx(Estimate(42.0, 42.0, 42.0))
    np.testing.assert_allclose(np.array(bootstrap_curve_ci([[1.0, 2.0, 3.0]])), [[1.0, 2.0, 3.0]] * 3)


def test_bootstrap_of_two_runs_spans_both_with_the_mean():
    # Replicates are 0, 5 or 10 with probabilities 1/4, 1/2, 1/4: the 2.5 and 97.5 percentiles are 0 and 10.
    assert bootstrap_ci([0.0, 10.0], statistic=mean) == pytest.approx(Estimate(5.0, 0.0, 10.0))


def test_bootstrap_interval_agrees_with_scipy_percentile_bootstrap():
    scores = np.random.default_rng(1).normal(loc=100, scale=20, size=15)
    ours = bootstrap_ci(scores, reps=20_000, seed=3)
    theirs = scipy.stats.bootstrap(
        (scores,),
        iqm,
        n_resamples=20_000,
        method="percentile",
        confidence_level=0.95,
        random_state=np.random.default_rng(4),
    ).confidence_interval
    assert ours.value == pytest.approx(iqm(scores))
    width = theirs.high - theirs.low
    assert ours.low == pytest.approx(theirs.low, abs=0.03 * width)
    assert ours.high == pytest.approx(theirs.high, abs=0.03 * width)


def test_bootstrap_resamples_runs_within_each_task():
    # Task 0 scores in [0, 1], task 1 in [100, 101], two runs each. With stratification every
    # replicate holds exactly two scores of each task, so its mean lies in [50, 51]; pooling
    # the four scores would give replicates with three or four of one task (means 25 or 75).
    scores = np.array([[0.0, 100.0], [1.0, 101.0]])  # [runs, tasks]
    estimate = bootstrap_ci(scores, statistic=mean, reps=5000)
    assert estimate.value == pytest.approx(50.5)
    assert 50.0 <= estimate.low <= estimate.high <= 51.0
    assert estimate.low == pytest.approx(50.0) and estimate.high == pytest.approx(51.0)


def test_bootstrap_drops_nan_runs():
    with_nan = bootstrap_ci([1.0, np.nan, 5.0, 3.0, np.nan, 9.0])
    assert with_nan == bootstrap_ci([1.0, 5.0, 3.0, 9.0])
    assert with_nan.value == pytest.approx(4.0)
    # a task whose runs are all NaN drops out; the other task stands alone
    assert bootstrap_ci([[2.0, np.nan], [4.0, np.nan]], statistic=mean) == bootstrap_ci([2.0, 4.0], statistic=mean)


def test_bootstrap_without_any_score_is_nan():
    assert all(np.isnan(bootstrap_ci([np.nan, np.nan])))


def test_bootstrap_is_deterministic_for_a_seed():
    scores = np.random.default_rng(2).normal(size=(5, 3))
    assert bootstrap_ci(scores) == bootstrap_ci(scores)
    assert bootstrap_ci(scores, seed=1) != bootstrap_ci(scores, seed=2)


def test_curve_interval_equals_the_scalar_interval_at_every_x():
    curves = np.random.default_rng(5).normal(size=(7, 4)).cumsum(axis=1)  # [runs, X]
    curve = bootstrap_curve_ci(curves, reps=500, seed=9)
    for x in range(curves.shape[1]):
        column = bootstrap_ci(curves[:, x], reps=500, seed=9)
        assert (curve.value[x], curve.low[x], curve.high[x]) == pytest.approx(tuple(column))


def test_curve_is_nan_where_any_run_has_not_logged_yet():
    curves = np.array([[np.nan, 1.0, 2.0], [np.nan, np.nan, 4.0], [0.0, 3.0, 6.0]])
    curve = bootstrap_curve_ci(curves)
    for row in curve:
        assert np.isnan(row[:2]).all()
        assert not np.isnan(row[2])
    assert curve.value[2] == pytest.approx(4.0)
