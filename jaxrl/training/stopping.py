"""Stopping on request: signals finish the current chunk, so the run can checkpoint and return."""

import signal
import sys
import threading


class StopRequests:
    """SIGINT (Ctrl-C) and SIGTERM ask the loop to stop after the chunk it is running (or, while
    the programs compile, before the first), write a checkpoint and return. A second signal ends
    the process at once, by the OS's default action (unless the program had a handler of its own,
    which then gets it): Python's own handler would wait for the main
    thread to leave XLA (a compile, a chunk) and then unwind through it. What is on disk stays
    whole, as after a kill -9: run dirs are staged, checkpoints finished or removed on resume."""

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
        previous = self.previous[signum]  # a handler of the program's own (not Python's) takes the next
        ours = previous in (signal.default_int_handler, signal.SIG_DFL, None)
        signal.signal(signum, signal.SIG_DFL if ours else previous)  # the next one is not deferred
        print(f"\njaxrl: {self.signal}: stopping after this chunk to write a checkpoint", file=sys.stderr)

    def __exit__(self, *_):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
