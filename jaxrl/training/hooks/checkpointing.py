"""The checkpoint hook: the arrays of every member (every process's), the loop's record beside
them, when one is due and once at the end."""

from jaxrl.config import RunConfig
from jaxrl.logs.base import Loggers
from jaxrl.training.checkpoints import Checkpointer
from jaxrl.training.distributed import Peers
from jaxrl.training.fleet import Fleet
from jaxrl.training.hooks.base import Chunk, Hook, Loop
from jaxrl.training.pbt import Tuner
from jaxrl.training.scoreboard import Record, Scoreboard


class Checkpoints(Hook):
    def __init__(
        self,
        config: RunConfig,
        fleet: Fleet,
        saver: Checkpointer,
        log: Loggers,
        peers: Peers,
        scores: Scoreboard,
        restarts: int,
        tuner: Tuner | None,
    ):
        self.config, self.fleet, self.saver, self.log, self.peers = config, fleet, saver, log, peers
        self.scores, self.restarts, self.tuner = scores, restarts, tuner

    def after_chunk(self, loop: Loop, chunk: Chunk) -> None:
        if loop.due and loop.unfinished:  # else the final checkpoint follows at once
            self.save(loop)

    def at_end(self, loop: Loop) -> None:
        self.save(loop)
        self.saver.close()  # the last save: nothing of orbax's may outlive it (`jaxrl` ends with os._exit)

    def save(self, loop: Loop) -> None:
        self.log.flush()  # logs first: a checkpoint never gets ahead of them, so a resume leaves no gap
        record = Record.of(
            loop.done,
            loop.env_steps,
            round(loop.elapsed(), 3),
            self.restarts,
            self.peers.gather(self.scores.rows()),  # every member's, from every process
            self.tuner.to_json() if self.tuner else None,
            self.scores.evaluations,
        )
        replay = None
        if self.config.checkpoint_replay and loop.plan.algorithm.replay:
            start = loop.plan.mine.start
            replay = [(range(start + m.start, start + m.stop), r) for m, r in self.fleet.replays()]
        self.saver.save(loop.env_steps, self.peers.to_global(self.fleet.saved()), record.to_json(), replay)
