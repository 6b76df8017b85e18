"""Run output: config.json, one TensorBoard run per population member, summary.json, progress.

Scalar names follow CleanRL (charts/episodic_return, losses/value_loss, ...), x-axis in env
steps of that member.
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

EPISODE_KEYS = (
    "episodes_ended",
    "episode_return_sum",
    "episode_length_sum",
    "recent_return",
    "env_steps",
    "diverged_at",
)


def write_json(path: Path, data: dict) -> None:
    """Atomic: a crash leaves either the old file or the new one, never half of one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def new_run_dir(logdir: str, env_id: str, algo: str, name: str) -> Path:
    """<logdir>/<env>/<algo>/<name>, with -2, -3, ... appended rather than reuse an existing one."""
    base = Path(logdir) / env_id / algo
    run_dir, suffix = base / name, 2
    while run_dir.exists():
        run_dir, suffix = base / f"{name}-{suffix}", suffix + 1
    run_dir.mkdir(parents=True)
    return run_dir


EVENT_FILES = "events.out.tfevents.*"


def event_records(path: Path):
    """The raw records of one event file; a record cut short by a kill ends the file quietly."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader

    yield from RawEventFileLoader(str(path)).Load()


def truncate_events(member_dir: Path, last_step: int) -> None:
    """Leaves in `member_dir` one event file holding each summary logged at a step <= last_step
    once: a resumed run logs again what came after its checkpoint.

    Safe to interrupt: the merged file is written aside (under a name no reader takes for events),
    replaces the oldest file atomically, and the others are deleted after it, so an interrupted
    truncation leaves duplicates that the next one removes.
    """
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.record_writer import RecordWriter

    files = sorted(member_dir.glob(EVENT_FILES))
    if not files:
        return
    kept, seen = [], set()
    for path in files:
        for raw in event_records(path):
            event = Event.FromString(raw)
            if event.HasField("summary"):
                key = (event.step, tuple(value.tag for value in event.summary.value))
                if event.step > last_step or key in seen:
                    continue
                seen.add(key)
            elif kept:  # the file_version header: the merged file needs one
                continue
            kept.append(raw)
    merged = member_dir / ".merging"  # no "tfevents" in the name: TensorBoard must not read it
    writer = RecordWriter(str(merged))
    for raw in kept:
        writer.write(raw)
    writer.flush()
    writer.close()
    os.replace(merged, files[0])
    for path in files[1:]:
        path.unlink()


class EventFile:
    """A TensorBoard event file written synchronously, so that `flush` means on disk: tensorboardX's
    SummaryWriter hands events to a thread through a queue, and its flush does not wait for them,
    which would let a checkpoint get ahead of its logs."""

    def __init__(self, directory: Path):
        from tensorboardX.event_file_writer import EventsWriter

        directory.mkdir(parents=True, exist_ok=True)
        self.writer = EventsWriter(str(directory / "events"))

    def add_summary(self, summary, step: int) -> None:
        from tensorboardX.proto.event_pb2 import Event

        self.writer.write_event(Event(wall_time=time.time(), step=step, summary=summary))

    def add_scalars(self, scalars: dict[str, float], step: int) -> None:
        from tensorboardX.proto.summary_pb2 import Summary

        values = [Summary.Value(tag=tag, simple_value=float(value)) for tag, value in scalars.items()]
        self.add_summary(Summary(value=values), step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class TensorBoard:
    """One TensorBoard run per population member, in <run dir>/<member name>/. A resumed run
    (`resume_step`) first cuts what was logged after its checkpoint, then appends."""

    def __init__(self, run_dir: Path, member_names: list[str], hyperparameters: dict, resume_step: int | None = None):
        from tensorboardX.summary import text

        if resume_step is not None:
            for name in member_names:
                truncate_events(run_dir / name, resume_step)
        self.writers = [EventFile(run_dir / name) for name in member_names]
        table = "|param|value|\n|-|-|\n" + "\n".join(f"|{key}|{value}|" for key, value in hyperparameters.items())
        if resume_step is None:
            for writer in self.writers:
                writer.add_summary(text("hyperparameters", table), 0)

    def log_chunk(self, metrics: dict, elapsed_s: float) -> None:
        """metrics: {name: [iterations, P]} as returned by the runner. A diverged member's
        losses are not logged: its networks are frozen and its updates thrown away."""
        steps = metrics["env_steps"]
        losses = [key for key in metrics if key not in EPISODE_KEYS]
        for member, writer in enumerate(self.writers):
            for i in range(steps.shape[0]):
                scalars = {}
                if metrics["diverged_at"][i, member] < 0:
                    scalars.update({f"losses/{key}": metrics[key][i, member] for key in losses})
                ended = metrics["episodes_ended"][i, member]
                if ended:
                    scalars["charts/episodic_return"] = metrics["episode_return_sum"][i, member] / ended
                    scalars["charts/episodic_length"] = metrics["episode_length_sum"][i, member] / ended
                recent = metrics["recent_return"][i, member]
                if np.isfinite(recent):  # the mean of the last 20 episodes: summary.json's final_return
                    scalars["charts/recent_return"] = recent
                # one event per step with every scalar in it: a sweep logs tens of thousands of points
                writer.add_scalars(scalars, int(steps[i, member]))
            last_step = int(steps[-1, member])
            writer.add_scalars({"charts/SPS": last_step / max(elapsed_s, 1e-9)}, last_step)

    def log_hparams(self, member_hparams: list[dict], final_returns: np.ndarray, step: int) -> None:
        """TensorBoard's hparams plugin: one session per member (its own run), with its final return."""
        from tensorboardX.summary import hparams

        for writer, values, final in zip(self.writers, member_hparams, final_returns, strict=True):
            for summary in hparams(values, {"hparams/final_return": None}):
                writer.add_summary(summary, step)  # after the checkpoint a resume starts from: cut
            if np.isfinite(final):
                writer.add_scalars({"hparams/final_return": float(final)}, step)

    def log_video(self, member: int, frames: np.ndarray, fps: float, step: int) -> None:
        from jaxrl.video import video_summary

        self.writers[member].add_summary(video_summary("eval/video", frames, fps), step)

    def flush(self) -> None:
        for writer in self.writers:
            writer.flush()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


def is_interactive() -> bool:
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true")


class Progress:
    """A live rich bar on a terminal; a plain line every `every_s` seconds elsewhere (CI, pipes)."""

    def __init__(self, total_steps: int, population: int, start_steps: int = 0, every_s: float = 10.0):
        self.total, self.population, self.every_s = total_steps, population, every_s
        self.start_steps = start_steps  # a resumed run's SPS counts this process's steps only
        self.start = time.perf_counter()
        self.last_print = -float("inf")
        self.bar = None
        if is_interactive():
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
            self.task = self.bar.add_task("train", total=total_steps, completed=start_steps, sps=0.0, ret="-")
            self.bar.start()

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

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
