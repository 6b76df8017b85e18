"""The PBT hook: logs the values each member trained with (hparams/<name>), and at each ready
point lets the tuner decide who copies whom (jaxrl.training.pbt) and the fleet copy them."""

import numpy as np

from jaxrl.training.fleet import Fleet
from jaxrl.training.hooks.base import Chunk, Hook, Loop
from jaxrl.training.pbt import Tuner
from jaxrl.training.scoreboard import Scoreboard


class Exploit(Hook):
    def __init__(self, tuner: Tuner, fleet: Fleet, scores: Scoreboard, copy_replay: bool):
        self.tuner, self.fleet, self.scores, self.copy_replay = tuner, fleet, scores, copy_replay

    def after_chunk(self, loop: Loop, chunk: Chunk) -> None:
        values = self.tuner.hyper  # the values each member trained with in this chunk
        mine = loop.plan.mine
        chunk.metrics.update(
            {f"hparams/{name}": np.tile(values[name][mine], (chunk.iterations, 1)) for name in self.tuner.ranges}
        )
        if loop.plan.ready_point(loop.done):  # (before a stop or a checkpoint: a resumed run has made its copies)
            ranked = np.where(self.scores.diverged_at >= 0, np.nan, self.scores.final_return)
            decision = self.tuner.step(ranked, loop.env_steps)
            self.fleet.exploit(decision.children, decision.parents, self.copy_replay)
            self.fleet.set_hyper(decision.hyper)
