"""The algorithm contract: what one module declares so the loop can train it.

An algorithm is a static config (shapes, counts: shared by a population), a hyper config
(floats: one value per population member) and `build`, which returns four pure functions for
ONE member (`jaxrl.core.types.Agent`). The loop vmaps them over the population; algorithms never
write a batch axis. Every field of Static and Hyper carries its help text (what `--help` shows)
and its valid values beside its definition.
"""

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

from flax import struct

from jaxrl.core.types import Agent


@dataclasses.dataclass(frozen=True)
class Interval:
    """The valid values of a number: `low`/`high` bounds (None: unbounded), open or closed."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or not (value > self.high or (self.high_open and value == self.high))

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"

    def clip(self, value: float) -> float:
        """The nearest value inside (a closed bound; an open one is approached, never reached)."""
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        return min(max(value, low), high)


POSITIVE = Interval(0.0, low_open=True)
NON_NEGATIVE = Interval(0.0)
UNIT = Interval(0.0, 1.0)  # [0, 1]: probabilities, lambda
DISCOUNT = Interval(0.0, 1.0, low_open=True)  # (0, 1]: gamma, soft-update rates


def hyper(default: float, help: str, valid: Interval) -> Any:
    """A field of an algorithm's Hyper: a float that may differ between population members."""
    return struct.field(default=default, metadata={"help": help, "valid": valid})


# The help of the `recurrent` and `recurrent_size` fields of the algorithms that take them (jaxrl.core.recurrent).
RECURRENT_HELP = (
    "gru or lstm: a recurrent core on the torso, its state reset where an episode starts; none: feed-forward"
)
RECURRENT_SIZE_HELP = "units of the recurrent core (with --recurrent gru or lstm)"


def static(default: Any, help: str, minimum: int | None = 1) -> Any:
    """A field of an algorithm's Static. Integers must be >= `minimum`."""
    return dataclasses.field(default=default, metadata={"help": help, "minimum": minimum})


def lag_field(default: int, synchronous: str) -> Any:
    """The `lag` of an algorithm that runs on the actor-learner (`jaxrl.training.actor_learner`)
    when it is above 0; `synchronous`: what lag 0 runs."""
    return static(
        default, f"parameter versions the actors lag the learner by (0: synchronous, {synchronous})", minimum=0
    )


# The actor-learner's other settings, shared by the algorithms that run on it.
def actor_threads_field() -> Any:
    return static(1, "actor threads per member, each with its own EnvPool of num_envs / actor_threads")


def actor_devices_field() -> Any:
    return static((), "local device indices the actor threads act on, in turn (default: the first device)", minimum=0)


def learner_devices_field() -> Any:
    return static(
        (), "local device indices the learner's update is split over along the env axis (default: the first)", minimum=0
    )


def check_actor_threads(static: Any) -> None:
    """Every actor thread of a member gets the same share of its envs: raises ValueError otherwise."""
    if static.actor_threads > static.num_envs:
        raise ValueError(
            f"--actor-threads {static.actor_threads} is more than --num-envs {static.num_envs}: "
            "every actor thread needs at least one env"
        )
    if static.num_envs % static.actor_threads:
        raise ValueError(
            f"--num-envs {static.num_envs} does not split evenly over --actor-threads {static.actor_threads}"
        )


def field_help(field: dataclasses.Field) -> str:
    return field.metadata.get("help", "")


class Algorithm(NamedTuple):
    name: str
    summary: str  # one line, for --help
    Static: type  # frozen dataclass: fixes shapes and counts
    Hyper: type  # flax struct dataclass of floats: may differ between population members
    build: Callable[..., Agent]  # (static, env_spec, num_iterations) -> Agent
    # The fields of the agent state that are networks (parameters and what their optimizer keeps):
    # what the NaN guard freezes when an update is not finite, and what PBT copies between members.
    networks: tuple[str, ...]
    # The field of the agent state that holds a replay buffer, if any: checkpoints may leave it out,
    # evaluation never reads it, and a resume without it refills it.
    replay: str | None = None
    check: Callable[[Any], None] = lambda static: None  # raises ValueError on an inconsistent Static
    # The kinds of action space `build` accepts (gymnasium's class names): a run on any other
    # env is refused with one line before anything is built.
    action_spaces: tuple[str, ...] = ("Discrete",)


def field_names(cls: type) -> list[str]:
    return [field.name for field in dataclasses.fields(cls)]


def check_replay_schedule(static: Any, slots_per_env: int) -> None:
    """What every replay algorithm's Static must satisfy (its num_envs, rollout_steps and
    train_every; `slots_per_env`: its ring's capacity): raises ValueError otherwise."""
    steps = static.num_envs * static.rollout_steps
    if steps % static.train_every:
        raise ValueError(
            f"num_envs * rollout_steps = {steps} is not a multiple of train_every = {static.train_every}: "
            "every rollout must hold whole training intervals"
        )
    if slots_per_env < static.rollout_steps + 5:
        raise ValueError(
            f"buffer_size {static.buffer_size} is too small for {static.num_envs} envs: "
            f"it must hold at least rollout_steps + 4 = {static.rollout_steps + 4} steps of every env"
        )
