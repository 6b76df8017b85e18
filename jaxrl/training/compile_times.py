"""The seconds each program of a run spends being traced, lowered to MLIR and compiled by XLA
(or read from the persistent cache), heard from JAX's own monitoring events while a run builds
and trains: the programs that `started_compiling` compiles ahead of time, and those compiled at
their first call (a JAX env's fused chunk, the initial state, the small helpers)."""

import threading
from collections import defaultdict

from jax import monitoring

# JAX's duration events (jax._src.dispatch), by the stage they time
STAGES = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "compile",
}
# the functions `jaxrl.core.programs` jits, by the program name the logs give them
PROGRAMS = {"collect": "collect", "update": "update", "iterations": "chunk", "init_state": "init"}
OTHER = "other"  # every other jitted function, summed (small helpers, eager ops)


def program_of(fun_name: str) -> str:
    """A program's name from JAX's name for it ("update" when traced, "jit(update)" when lowered
    and compiled)."""
    name = fun_name.removeprefix("jit(").removesuffix(")")
    return PROGRAMS.get(name, OTHER)


class CompileTimes:
    """While entered, adds up each program's seconds per stage: {program: {stage: seconds}}.
    `take()` hands over what was heard since the last take (a run reports every compile once:
    the first chunk's, and any later one's, such as a shorter last chunk's)."""

    def __init__(self):
        self.lock = threading.Lock()  # XLA compiles on a second thread too (started_compiling)
        self.pending: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(STAGES.values(), 0.0))
        self.total: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(STAGES.values(), 0.0))

    def heard(self, event: str, seconds: float, fun_name: str = "", **_) -> None:
        stage = STAGES.get(event)
        if stage is None:
            return
        with self.lock:
            for times in (self.pending, self.total):
                times[program_of(fun_name)][stage] += seconds

    def __enter__(self):
        monitoring.register_event_duration_secs_listener(self.heard)
        return self

    def __exit__(self, *_):
        monitoring.unregister_event_duration_listener(self.heard)

    def take(self) -> dict[str, float]:
        """{program: seconds (trace + lower + compile)} heard since the last take."""
        with self.lock:
            taken = {program: sum(stages.values()) for program, stages in self.pending.items()}
            self.pending.clear()
        return taken

    def summary(self) -> dict[str, dict[str, float]]:
        """Every program's seconds per stage, and their "total", rounded to milliseconds."""
        with self.lock:
            times = {program: {k: round(v, 3) for k, v in stages.items()} for program, stages in self.total.items()}
        times["total"] = round(sum(sum(stages.values()) for stages in times.values()), 3)
        return times
