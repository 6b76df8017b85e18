"""The loop's bookkeeping on the host: per member, when it reached the target, its final return
and whether it diverged; and the record of progress that each checkpoint keeps beside the arrays."""

from typing import NamedTuple

import numpy as np


def target_reached(recent_return: np.ndarray, target: float | None) -> np.ndarray:
    """[n, P] -> [n, P] bool; NaN (no finished episode yet) never reaches a target."""
    if target is None:
        return np.zeros(recent_return.shape, bool)
    return np.nan_to_num(recent_return, nan=-np.inf) >= target


class Record(NamedTuple):
    """The loop's own progress, kept in each checkpoint beside the arrays (as JSON)."""

    iterations: int = 0  # rollouts and updates done
    env_steps: int = 0  # per member
    elapsed_s: float = 0.0  # wall-clock seconds of the run before this process, set-up included
    restarts: int = 0  # resumes so far: each restarts the envs with new seeds
    steps_to_target: tuple = ()  # per member, None until reached
    seconds_to_target: tuple = ()
    final_return: tuple = ()  # per member, None before the first finished episode
    tuner: dict | None = None  # PBT: the members' values, lineage and generator (Tuner.to_json)
    evaluations: tuple = ()  # --eval-every: {"step", "returns": every member's mean greedy return, other means}

    @classmethod
    def of(cls, iterations, env_steps, elapsed_s, restarts, rows: np.ndarray, tuner=None, evaluations=()) -> "Record":
        """The record of a loop whose every member's scores are `rows` (Scoreboard.rows, gathered)."""
        steps, seconds, finals, _ = rows.T
        return cls(
            iterations,
            env_steps,
            elapsed_s,
            restarts,
            tuple(optional(s, int) for s in steps),
            tuple(optional(s) for s in seconds),
            tuple(optional(r) for r in finals),
            tuner=tuner,
            evaluations=tuple(evaluations),
        )

    def to_json(self) -> dict:
        return self._asdict()

    @classmethod
    def from_json(cls, data: dict) -> "Record":
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()})


class Scoreboard:
    """Per member of this process: the env step and second at which the mean of its last 20
    episodes first reached the target, that mean now (its final return), and the env step at
    which it diverged (-1: never)."""

    def __init__(self, record: "Record", members: slice, diverged_at: np.ndarray, target: float | None):
        self.steps_to_target = list(record.steps_to_target[members])
        self.seconds_to_target = list(record.seconds_to_target[members])
        self.final_return = np.array([np.nan if r is None else r for r in record.final_return[members]], float)
        self.diverged_at, self.target = diverged_at, target
        self.evaluations = list(record.evaluations)  # every member's, from every process

    def update(self, metrics: dict, seconds_at) -> None:
        """One chunk's metrics [n, P]; `seconds_at(i)`: the run's clock at the chunk's i-th iteration."""
        reached = target_reached(metrics["recent_return"], self.target)
        for member, steps in enumerate(self.steps_to_target):
            hits = np.flatnonzero(reached[:, member])
            if steps is None and hits.size:
                self.steps_to_target[member] = int(metrics["env_steps"][hits[0], member])
                self.seconds_to_target[member] = round(seconds_at(hits[0]), 3)
        self.final_return = metrics["recent_return"][-1]
        self.diverged_at = metrics["diverged_at"][-1]

    def add_evaluation(self, env_steps: int, returns: list[float], **others: list[float]) -> None:
        """Every member's mean greedy return at `env_steps` (--eval-every), and its other means
        (a multi-agent env's "team_return", SMAX's "win_rate")."""
        more = {name: [float(v) for v in values] for name, values in others.items()}
        self.evaluations.append({"step": env_steps, "returns": [float(r) for r in returns], **more})

    def finished(self) -> bool:
        """Nothing left to learn for any member: frozen after diverging, or at the target."""
        done = self.diverged_at >= 0
        if self.target is not None:
            done |= np.array([steps is not None for steps in self.steps_to_target])
        return bool(done.all())

    def rows(self) -> np.ndarray:
        """[members, 4]: steps and seconds to target, final return, diverged at (-1 / NaN for
        none), the form the processes of a distributed run exchange."""
        columns = (
            [-1 if s is None else s for s in self.steps_to_target],
            [np.nan if s is None else s for s in self.seconds_to_target],
            self.final_return,
            self.diverged_at,
        )
        return np.stack([np.asarray(column, float) for column in columns], axis=1)


def optional(value: float, kind=float):
    """A row's entry as JSON: -1 (steps, steps diverged) or NaN (seconds, returns) is None."""
    return None if np.isnan(value) or value < 0 and kind is int else kind(value)
