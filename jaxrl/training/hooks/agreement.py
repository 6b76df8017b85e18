"""The stop agreement: whether to stop (a signal, `should_stop`), whether every member is finished
and whether a checkpoint is due, agreed by every process of the run, so that all stop, finish
and checkpoint at the same chunk."""

from jaxrl.training.checkpoints import Checkpointer
from jaxrl.training.distributed import Peers
from jaxrl.training.hooks.base import Chunk, Hook, Loop
from jaxrl.training.scoreboard import Scoreboard
from jaxrl.training.stopping import StopRequests


class StopAgreement(Hook):
    def __init__(self, peers: Peers, stop: StopRequests, should_stop, scores: Scoreboard, saver: Checkpointer):
        self.peers, self.stop, self.should_stop, self.scores, self.saver = peers, stop, should_stop, scores, saver

    def before(self, loop: Loop) -> None:
        # a signal that came while the programs compiled stops the run before its first chunk
        self.agree(loop, self.stop.signal, due=False)

    def after_chunk(self, loop: Loop, chunk: Chunk) -> None:
        requested = "request" if self.should_stop is not None and self.should_stop(loop.env_steps) else None
        self.agree(loop, self.stop.signal or requested, self.saver.due(loop.env_steps))

    def agree(self, loop: Loop, stop: str | None, due: bool) -> None:
        stop, loop.finished, loop.due = self.peers.agree(stop, self.scores.finished(), due)
        if stop and loop.unfinished:  # (asked for as the last chunk ended, it changes nothing)
            loop.interrupted_by = stop
