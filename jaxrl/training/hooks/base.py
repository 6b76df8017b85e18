"""The loop over hooks and what it shares with them."""

import dataclasses
import time
from typing import NamedTuple

from jaxrl.training.plan import RunPlan


@dataclasses.dataclass
class Loop:
    """Where the loop is: the hooks read it, and the stop agreement writes its verdicts into it."""

    plan: RunPlan
    done: int  # iterations done (a resumed run: where its checkpoint left them)
    env_steps: int  # per member
    start: float  # the run's clock origin (time.perf_counter), set back by earlier processes' time
    interrupted_by: str | None = None  # what stopped the run early: "SIGINT", "SIGTERM", "request"
    finished: bool = False  # every member of every process is done (diverged or at the target)
    due: bool = False  # a checkpoint is due now (process 0's clock decides for all)
    trained: bool = False  # a chunk ran in this process

    @property
    def unfinished(self) -> bool:
        return self.done < self.plan.num_iterations and not self.finished

    def elapsed(self, now: float | None = None) -> float:
        return (time.perf_counter() if now is None else now) - self.start


class Chunk(NamedTuple):
    metrics: dict  # {name: [iterations, P]} NumPy; hooks may add entries before the logging hook
    iterations: int
    began: float  # time.perf_counter() when it was dispatched
    ended: float  # ... and when its metrics were on the host


class Hook:
    """Does nothing; a hook overrides what it needs."""

    def before(self, loop: Loop) -> None:
        """Once the state is made and before the first chunk."""

    def after_chunk(self, loop: Loop, chunk: Chunk) -> None:
        """After each chunk, in the hooks' order; set `loop.interrupted_by` to skip the rest."""

    def at_end(self, loop: Loop) -> None:
        """Once, however the loop ended (not on an exception)."""


def run_loop(loop: Loop, train_chunk, hooks: list[Hook]) -> None:
    """Trains chunk after chunk (`train_chunk(iterations) -> metrics`) until the plan is done, every
    member is finished or a hook stops the run, telling each hook after each."""
    for hook in hooks:
        hook.before(loop)
    while loop.unfinished and not loop.interrupted_by:
        iterations = loop.plan.next_chunk(loop.done)
        began = time.perf_counter()
        metrics = train_chunk(iterations)
        chunk = Chunk(metrics, iterations, began, time.perf_counter())
        loop.done += iterations
        loop.env_steps, loop.trained = int(metrics["env_steps"][-1, 0]), True
        for hook in hooks:
            hook.after_chunk(loop, chunk)
            if loop.interrupted_by:
                break
    for hook in hooks:
        hook.at_end(loop)
