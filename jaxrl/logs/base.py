"""The logger protocol: what the training loop reports, to sinks it is given and never builds.

Scalar names follow CleanRL (charts/episodic_return, losses/value_loss, ...), each member's
x-axis in its own env steps.
"""

import contextlib
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

# Keys of the loop's chunk metrics that are episode and progress counts; every other key is a
# loss or statistic of the algorithm's update, logged as losses/<key>.
EPISODE_KEYS = (
    "episodes_ended",
    "episode_return_sum",
    "episode_length_sum",
    "recent_return",
    "env_steps",
    "diverged_at",
)


class RunInfo(NamedTuple):
    """What a logger learns when the run opens."""

    run_dir: Path
    names: list[str]  # this process's members, one logged run each: "s0", "lr=3e-4,s2"
    settings: dict  # the settings every member shares (env, static, hyper): a table for the record
    config: dict  # config.json
    resume_step: int | None  # a resumed run: logs after this env step are cut, then continued
    total_steps: int  # env steps per member the run ends at
    population: int  # members of the whole run (every process)
    primary: bool  # this process speaks for the run (a distributed run has several)


class Logger(Protocol):
    def open(self, run: RunInfo) -> None: ...

    def log_chunk(self, metrics: dict, elapsed_s: float) -> None:
        """metrics {name: [iterations, P]} (NumPy) of one chunk; elapsed_s: the run's clock."""

    def log_hparams(self, member_hparams: list[dict], final_returns: np.ndarray, step: int) -> None:
        """Once, when the run completes: each member's hyperparameters and final return."""

    def log_video(self, member: int, frames: np.ndarray, fps: float, step: int) -> None: ...

    def note(self, text: str) -> None:
        """A line for the person watching (resuming, devices, budget rounding)."""

    def flush(self) -> None:
        """Everything reported so far is on disk (before a checkpoint: logs never lag one)."""

    def close(self) -> None: ...


def member_scalars(metrics: dict, member: int) -> list[tuple[int, dict[str, float]]]:
    """[(env step, {tag: value})] of one member over a chunk's iterations. A diverged member's
    losses are left out: its networks are frozen and its updates thrown away."""
    steps = metrics["env_steps"]
    tagged = [key for key in metrics if "/" in key]  # logged under their own tag (PBT's hparams/lr)
    losses = [key for key in metrics if key not in EPISODE_KEYS and key not in tagged]
    rows = []
    for i in range(steps.shape[0]):
        scalars = {}
        if metrics["diverged_at"][i, member] < 0:
            scalars.update({f"losses/{key}": float(metrics[key][i, member]) for key in losses})
        # (NaN: nothing at this iteration, as time/compile/<program> after the chunk's first)
        scalars.update({key: float(metrics[key][i, member]) for key in tagged if np.isfinite(metrics[key][i, member])})
        ended = metrics["episodes_ended"][i, member]
        if ended:
            scalars["charts/episodic_return"] = float(metrics["episode_return_sum"][i, member] / ended)
            scalars["charts/episodic_length"] = float(metrics["episode_length_sum"][i, member] / ended)
        recent = metrics["recent_return"][i, member]
        if np.isfinite(recent):  # the mean of the last 20 episodes: summary.json's final_return
            scalars["charts/recent_return"] = float(recent)
        rows.append((int(steps[i, member]), scalars))
    return rows


def steps_per_second(metrics: dict, member: int, elapsed_s: float) -> tuple[int, float]:
    """(the member's env step at the chunk's end, its env steps per second of the run so far)."""
    last_step = int(metrics["env_steps"][-1, member])
    return last_step, last_step / max(elapsed_s, 1e-9)


class Loggers:
    """Several sinks as one: every call goes to each; `close` closes all, whatever one raises."""

    def __init__(self, sinks: list):
        self.sinks = list(sinks)

    def open(self, run: RunInfo) -> None:
        for sink in self.sinks:
            sink.open(run)

    def log_chunk(self, metrics: dict, elapsed_s: float) -> None:
        for sink in self.sinks:
            sink.log_chunk(metrics, elapsed_s)

    def log_hparams(self, member_hparams: list[dict], final_returns: np.ndarray, step: int) -> None:
        for sink in self.sinks:
            sink.log_hparams(member_hparams, final_returns, step)

    def log_video(self, member: int, frames: np.ndarray, fps: float, step: int) -> None:
        for sink in self.sinks:
            sink.log_video(member, frames, fps, step)

    def note(self, text: str) -> None:
        for sink in self.sinks:
            sink.note(text)

    def flush(self) -> None:
        for sink in self.sinks:
            sink.flush()

    def close(self) -> None:
        with contextlib.ExitStack() as stack:
            for sink in self.sinks:
                stack.callback(sink.close)
