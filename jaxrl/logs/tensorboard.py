"""The TensorBoard sink: one TensorBoard run per population member, in <run dir>/<member name>/,
written synchronously so that a flush is on disk, and cut back to a checkpoint on resume."""

import os
import time
from pathlib import Path

import numpy as np
from tensorboardX.event_file_writer import EventsWriter
from tensorboardX.proto.event_pb2 import Event
from tensorboardX.proto.summary_pb2 import Summary
from tensorboardX.record_writer import RecordWriter
from tensorboardX.summary import hparams, text

from jaxrl.logs.base import RunInfo, member_scalars, steps_per_second
from jaxrl.logs.video import video_summary

EVENT_FILES = "events.out.tfevents.*"


def event_records(path: Path):
    """The raw records of one event file; a record cut short by a kill ends the file quietly."""
    # lazy: TensorBoard's reader (~0.5 s of imports) is needed on resume and by jaxrl compare only
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader

    yield from RawEventFileLoader(str(path)).Load()


def truncate_events(member_dir: Path, last_step: int) -> bool:
    """Leaves in `member_dir` one event file holding each summary logged at a step <= last_step
    once: a resumed run logs again what came after its checkpoint. Returns whether there was
    any event file.

    Safe to interrupt: the merged file is written aside (under a name no reader takes for events),
    replaces the oldest file atomically, and the others are deleted after it, so an interrupted
    truncation leaves duplicates that the next one removes.
    """
    files = sorted(member_dir.glob(EVENT_FILES))
    if not files:
        return False
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
    return True


class EventFile:
    """A TensorBoard event file written synchronously, so that `flush` means on disk: tensorboardX's
    SummaryWriter hands events to a thread through a queue, and its flush does not wait for them,
    which would let a checkpoint get ahead of its logs."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.writer = EventsWriter(str(directory / "events"))

    def add_summary(self, summary, step: int) -> None:
        self.writer.write_event(Event(wall_time=time.time(), step=step, summary=summary))

    def add_scalars(self, scalars: dict[str, float], step: int) -> None:
        values = [Summary.Value(tag=tag, simple_value=float(value)) for tag, value in scalars.items()]
        self.add_summary(Summary(value=values), step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class TensorBoard:
    """The TensorBoard sink. A resumed run first cuts what was logged after its checkpoint, then
    appends, so curves have no gaps and no repeated points."""

    def __init__(self):
        self.writers: list[EventFile] = []

    def open(self, run: RunInfo) -> None:
        resumed = [
            run.resume_step is not None and truncate_events(run.run_dir / name, run.resume_step) for name in run.names
        ]
        self.writers = [EventFile(run.run_dir / name) for name in run.names]
        table = "|param|value|\n|-|-|\n" + "\n".join(f"|{key}|{value}|" for key, value in run.settings.items())
        for writer, continued in zip(self.writers, resumed, strict=True):
            if not continued:  # a new member run (or one a kill stopped before it logged anything)
                writer.add_summary(text("hyperparameters", table), 0)

    def log_chunk(self, metrics: dict, elapsed_s: float) -> None:
        for member, writer in enumerate(self.writers):
            # one event per step with every scalar in it: a sweep logs tens of thousands of points
            for step, scalars in member_scalars(metrics, member):
                writer.add_scalars(scalars, step)
            last_step, sps = steps_per_second(metrics, member, elapsed_s)
            writer.add_scalars({"charts/SPS": sps}, last_step)

    def log_hparams(self, member_hparams: list[dict], final_returns: np.ndarray, step: int) -> None:
        """TensorBoard's hparams plugin: one session per member (its own run), with its final return."""
        for writer, values, final in zip(self.writers, member_hparams, final_returns, strict=True):
            for summary in hparams(values, {"hparams/final_return": None}):
                writer.add_summary(summary, step)  # after the checkpoint a resume starts from: cut
            if np.isfinite(final):
                writer.add_scalars({"hparams/final_return": float(final)}, step)

    def log_video(self, member: int, frames: np.ndarray, fps: float, step: int) -> None:
        self.writers[member].add_summary(video_summary("eval/video", frames, fps), step)

    def note(self, text: str) -> None:
        pass

    def flush(self) -> None:
        for writer in self.writers:
            writer.flush()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()
