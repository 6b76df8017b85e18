"""The episode-info hook: what an env reports about the episodes it ends (`Step.episode_info`,
e.g. Craftax's `craftax/achievement/<name>`, 1 where the episode unlocked it, and
`craftax/percent_of_max`) arrives as each iteration's sum over its ended episodes; this hook
makes it their mean, logged under the tag itself (NaN, not logged, where no episode ended), and
keeps each member's mean over the last chunk's episodes for summary.json."""

import numpy as np

from jaxrl.core.episodes import EPISODE_SUM
from jaxrl.training.hooks.base import Chunk, Hook, Loop


def episode_means(metrics: dict) -> dict[str, np.ndarray]:
    """Pops every EPISODE_SUM metric of a chunk: {tag: [iterations, P] mean per ended episode}."""
    ended = metrics["episodes_ended"]
    sums = {key[len(EPISODE_SUM) :]: metrics.pop(key) for key in [k for k in metrics if k.startswith(EPISODE_SUM)]}
    with np.errstate(invalid="ignore", divide="ignore"):
        return {tag: np.where(ended > 0, total / ended, np.nan) for tag, total in sums.items()}


class EpisodeInfo(Hook):
    def __init__(self):
        self.last: dict[str, list[float | None]] = {}  # {tag: per member of this process}

    def after_chunk(self, loop: Loop, chunk: Chunk) -> None:
        sums = {key: chunk.metrics[key].sum(axis=0) for key in chunk.metrics if key.startswith(EPISODE_SUM)}
        ended = chunk.metrics["episodes_ended"].sum(axis=0)
        for key, total in sums.items():
            self.last[key[len(EPISODE_SUM) :]] = [
                None if n == 0 else float(t / n) for t, n in zip(total, ended, strict=True)
            ]
        chunk.metrics.update(episode_means(chunk.metrics))

    def add_summary(self, runs: list[dict], members: slice) -> None:
        """Each run of this process gets `episode_info`: {tag: its mean over the last chunk's
        episodes}, where the env reports any."""
        for tag, values in self.last.items():
            for run, value in zip(runs[members], values, strict=True):
                run.setdefault("episode_info", {})[tag] = value
