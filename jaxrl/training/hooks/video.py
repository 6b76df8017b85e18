"""The video hook: every `every` env steps per member, a greedy game of the first member into
<run dir>/videos/ and the loggers (process 0 only)."""

from pathlib import Path

from jaxrl.config import RunConfig
from jaxrl.logs.base import Loggers
from jaxrl.logs.video import write_video
from jaxrl.training.evaluation import record
from jaxrl.training.fleet import Fleet
from jaxrl.training.hooks.base import Chunk, Hook, Loop


class Video(Hook):
    def __init__(self, config: RunConfig, fleet: Fleet, log: Loggers, run_dir: Path, name: str):
        self.config, self.fleet, self.log, self.run_dir, self.name = config, fleet, log, run_dir, name

    def after_chunk(self, loop: Loop, chunk: Chunk) -> None:
        every, before = self.config.capture_video, loop.env_steps - chunk.iterations * loop.plan.steps_per_iteration
        if every and loop.env_steps // every > before // every:
            frames, fps, _ = record(
                self.fleet.agent, self.fleet.first_member_agent(), self.config, loop.env_steps, False
            )
            (self.run_dir / "videos").mkdir(exist_ok=True)
            write_video(frames, fps, self.run_dir / "videos" / f"{self.name}-step{loop.env_steps}")
            self.log.log_video(0, frames, fps, loop.env_steps)
