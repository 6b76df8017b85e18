"""The logging hook: each chunk's metrics (and the seconds spent compiling) to the loggers, and
each member's hyperparameters and final return once the run completes."""

import numpy as np

from jaxrl.logs.base import Loggers
from jaxrl.training.compile_times import CompileTimes
from jaxrl.training.hooks.base import Chunk, Hook, Loop
from jaxrl.training.scoreboard import Scoreboard


def compile_metrics(seconds: dict[str, float], shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """time/compile/<program> metrics [iterations, members] (`shape`) of a chunk: the seconds each
    program compiled before and during it, at its first iteration (NaN, not logged, elsewhere)."""
    metrics = {}
    for program, value in seconds.items():
        column = np.full(shape, np.nan)
        column[0] = value
        metrics[f"time/compile/{program}"] = column
    return metrics


class Logging(Hook):
    def __init__(self, log: Loggers, compiles: CompileTimes, hparams: list[dict], scores: Scoreboard):
        self.log, self.compiles, self.hparams, self.scores = log, compiles, hparams, scores

    def after_chunk(self, loop: Loop, chunk: Chunk) -> None:
        chunk.metrics.update(compile_metrics(self.compiles.take(), chunk.metrics["env_steps"].shape))
        self.log.log_chunk(chunk.metrics, loop.elapsed(chunk.ended))

    def at_end(self, loop: Loop) -> None:
        if loop.trained and not loop.interrupted_by:  # once, when the run completes (not on resuming a complete run)
            self.log.log_hparams(self.hparams, self.scores.final_return, loop.env_steps)
