"""Stopping on request: signals finish the current chunk, so the run can checkpoint and return."""

import signal
import sys
import threading


class StopRequests:
    """SIGINT (Ctrl-C) and SIGTERM ask the loop to stop after the chunk it is running, write a
    checkpoint and return; a second signal interrupts at once (the checkpoints stay whole)."""

    def __init__(self):
        self.signal: str | None = None
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.previous[signum] = signal.signal(signum, self.request)
        return self

    def request(self, signum, _frame) -> None:
        self.signal = signal.Signals(signum).name
        signal.signal(signum, self.previous[signum])  # the next one is not deferred
        print(f"\njaxrl: {self.signal}: stopping after this chunk to write a checkpoint", file=sys.stderr)

    def __exit__(self, *_):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
