"""The progress display: steps, SPS, mean return and ETA while a run trains."""

import os
import sys
import time

import numpy as np

from jaxrl.logs.base import RunInfo


def is_interactive() -> bool:
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true")


class Progress:
    """The progress display: a live rich bar on a terminal, a plain line every `every_s` seconds
    elsewhere (CI, pipes), and the loop's notes on stderr. Only the primary process of a
    distributed run shows anything."""

    def __init__(self, every_s: float = 10.0):
        self.every_s = every_s
        self.shown = False
        self.bar = None

    def open(self, run: RunInfo) -> None:
        self.shown = run.primary
        if not self.shown:
            return
        self.total, self.population = run.total_steps, run.population
        self.start_steps = run.resume_step or 0  # a resumed run's SPS counts this process's steps only
        self.start = time.perf_counter()
        self.last_print = -float("inf")
        if is_interactive():
            # lazy: rich's bar (~0.1 s of imports) only where a terminal shows it
            from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,}/{task.total:,} steps"),
                TextColumn("{task.fields[sps]:,.0f} SPS"),
                TextColumn("return {task.fields[ret]}"),
                TimeRemainingColumn(),
                transient=False,
            )
            self.task = self.bar.add_task("train", total=self.total, completed=self.start_steps, sps=0.0, ret="-")
            self.bar.start()

    def log_chunk(self, metrics: dict, elapsed_s: float) -> None:
        if self.shown:
            self.update(int(metrics["env_steps"][-1, 0]), metrics["recent_return"][-1])

    def update(self, env_steps: int, recent_return: np.ndarray) -> None:
        elapsed = time.perf_counter() - self.start
        sps = (env_steps - self.start_steps) * self.population / max(elapsed, 1e-9)
        ret = "-" if np.all(np.isnan(recent_return)) else f"{np.nanmean(recent_return):.1f}"
        if self.bar is not None:
            self.bar.update(self.task, completed=env_steps, sps=sps, ret=ret)
        elif elapsed - self.last_print >= self.every_s:
            self.last_print = elapsed
            eta = (self.total - env_steps) * self.population / max(sps, 1e-9)
            print(
                f"steps {env_steps:,}/{self.total:,}  SPS {sps:,.0f}  return {ret}  ETA {eta:,.0f}s",
                file=sys.stderr,
                flush=True,
            )

    def note(self, text: str) -> None:
        if self.shown:
            print(text, file=sys.stderr, flush=True)

    def log_hparams(self, member_hparams: list[dict], final_returns: np.ndarray, step: int) -> None:
        pass

    def log_video(self, member: int, frames: np.ndarray, fps: float, step: int) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
