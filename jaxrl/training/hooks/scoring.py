"""The scoring hook: each chunk's returns into the scoreboard (target reached, final return,
divergence), which the stop agreement, PBT and the summary read."""

from jaxrl.training.hooks.base import Chunk, Hook, Loop
from jaxrl.training.scoreboard import Scoreboard


class Scoring(Hook):
    def __init__(self, scores: Scoreboard):
        self.scores = scores

    def after_chunk(self, loop: Loop, chunk: Chunk) -> None:
        # the chunk ran as one program: place an iteration by its share of the chunk's time
        def seconds_at(i: int) -> float:
            return chunk.began - loop.start + (chunk.ended - chunk.began) * (i + 1) / chunk.iterations

        self.scores.update(chunk.metrics, seconds_at)
