"""Aggregate statistics over runs that stay honest with few seeds (Agarwal et al., 2021,
"Deep RL at the Edge of the Statistical Precipice"): the interquartile mean and percentile
bootstrap confidence intervals, stratified by task, in numpy only.
"""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

# statistic(samples, axis) -> samples reduced along axis, e.g. iqm or np.mean
Statistic = Callable[..., np.ndarray]


class Estimate(NamedTuple):
    """A point estimate with its confidence interval: floats, or arrays [X] for a curve."""

    value: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray


def iqm(scores, axis: int | None = None) -> np.ndarray:
    """Interquartile mean: the mean after dropping int(n / 4) scores from each end of the sorted
    n scores along `axis` (all scores when None); scipy.stats.trim_mean(scores, 0.25, axis)."""
    scores = np.asarray(scores, dtype=np.float64)
    if axis is None:
        scores, axis = scores.ravel(), 0
    n = scores.shape[axis]
    cut = n // 4
    middle = np.take(np.sort(scores, axis=axis), np.arange(cut, n - cut), axis=axis)
    return middle.mean(axis=axis)


def percentile_interval(replicates: np.ndarray, confidence: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The (1 - c) / 2 and (1 + c) / 2 percentiles of the bootstrap replicates along `axis`."""
    low, high = np.percentile(replicates, [50 * (1 - confidence), 50 * (1 + confidence)], axis=axis)
    return low, high


def bootstrap_ci(
    scores, statistic: Statistic = iqm, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """statistic over all scores [runs, tasks] (1-D: one task) with a stratified percentile
    bootstrap interval: each replicate resamples runs with replacement within every task.

    NaN scores (runs without a finished episode) are dropped first; none left gives NaN.
    """
    scores = np.asarray(scores, dtype=np.float64)
    by_task = (scores[:, None] if scores.ndim == 1 else scores).T  # [tasks, runs]
    tasks = [runs[~np.isnan(runs)] for runs in by_task]
    tasks = [runs for runs in tasks if runs.size]
    if not tasks:
        return Estimate(np.nan, np.nan, np.nan)
    rng = np.random.default_rng(seed)
    # Tasks may keep different numbers of runs after NaN dropping, so each draws its own indices.
    resampled = np.concatenate([runs[rng.integers(0, runs.size, (reps, runs.size))] for runs in tasks], axis=1)
    low, high = percentile_interval(statistic(resampled, axis=1), confidence)
    return Estimate(float(statistic(np.concatenate(tasks), axis=0)), float(low), float(high))


def bootstrap_curve_ci(
    curves, statistic: Statistic = iqm, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """statistic over runs at every x of curves [runs, X], with a percentile bootstrap band [X]
    that resamples whole runs (the same run indices at every x).

    An x where any run is NaN (not logged yet) is NaN, so runs never enter the curve midway.
    """
    curves = np.asarray(curves, dtype=np.float64)
    runs = curves.shape[0]
    rng = np.random.default_rng(seed)
    replicates = statistic(curves[rng.integers(0, runs, (reps, runs))], axis=1)  # [reps, X]
    low, high = percentile_interval(replicates, confidence)
    incomplete = np.isnan(curves).any(axis=0)
    value, low, high = (np.where(incomplete, np.nan, x) for x in (statistic(curves, axis=0), low, high))
    return Estimate(value, low, high)
