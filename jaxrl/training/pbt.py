"""Population-based training (Jaderberg et al., 2017), between the chunks of the one program:
every `ready_every` env steps per member, in each population, the bottom `truncation` of the
members by the mean of their last 20 episodes take over the networks (and optimizer state, and
optionally the replay) of random members of the top `truncation`, then explore: each of their
tuned hyperparameters is the parent's times 0.8 or 1.2, or with `resample_probability` a fresh
draw from its range, clipped to the range.

The decisions are made here, on the host, from a seeded NumPy generator whose state is kept in
checkpoints; the copies are made on the device by the fleet. Hyperparameters are arrays with the
population axis, so nothing recompiles; each member's own RNG key is never copied.
"""

from typing import NamedTuple

import numpy as np

from jaxrl.config import PBT
from jaxrl.search import Range, sample_range


class Exploit(NamedTuple):
    """One ready point's decisions: `children[i]` takes `parents[i]`'s networks; `hyper` holds
    every member's hyperparameter values from now on."""

    children: np.ndarray  # [k] int: members replaced
    parents: np.ndarray  # [k] int: the member each copies
    hyper: dict[str, np.ndarray]  # name -> [P] float32, every member's (the tuned ones changed)


class Tuner:
    """The PBT state of a run: settings (config.pbt), current values, lineage, RNG."""

    def __init__(self, settings: PBT, initial: dict[str, np.ndarray], seed: int, saved: dict | None = None):
        self.population, self.ready_every = settings.population, settings.ready_every
        self.truncation, self.resample = settings.truncation, settings.resample_probability
        self.perturb = tuple(settings.perturb)
        self.ranges = {name: Range(**value) for name, value in settings.ranges.items()}
        self.rng = np.random.default_rng([seed, 0x5B7])
        if saved is None:
            self.hyper = {name: np.asarray(values, np.float32) for name, values in initial.items()}
            size = len(next(iter(self.hyper.values())))
            self.lineage = [[{"step": 0, "parent": None, "hyper": self.values_of(m)}] for m in range(size)]
        else:  # resumed: the values, ancestry and generator where the checkpoint left them
            self.hyper = {name: np.asarray(values, np.float32) for name, values in saved["hyper"].items()}
            self.lineage = saved["lineage"]
            self.rng.bit_generator.state = saved["rng"]

    def values_of(self, member: int) -> dict[str, float]:
        """A member's tuned values, as their shortest decimal (float32 values: 3e-4, not 0.0003000000142)."""
        return {name: float(str(self.hyper[name][member])) for name in self.ranges}

    def step(self, scores: np.ndarray, env_steps: int) -> Exploit:
        """Decisions for scores [P] (each member's recent mean return; NaN: none yet or diverged,
        which ranks last). Members are in populations of `population` consecutive members."""
        ranked_scores = np.nan_to_num(np.asarray(scores, float), nan=-np.inf)
        cut = max(1, int(self.truncation * self.population))
        children, parents = [], []
        for start in range(0, len(ranked_scores), self.population):
            order = start + np.argsort(ranked_scores[start : start + self.population], kind="stable")
            bottom, top = order[:cut], order[-cut:]
            children += list(bottom)
            parents += list(self.rng.choice(top, size=cut))
        hyper = {name: values.copy() for name, values in self.hyper.items()}
        for child, parent in zip(children, parents, strict=True):
            for name, span in self.ranges.items():
                if self.rng.uniform() < self.resample:
                    value = sample_range(self.rng, span)
                else:
                    value = float(hyper[name][parent]) * float(self.rng.choice(self.perturb))
                hyper[name][child] = np.float32(min(max(value, span.low), span.high))
        self.hyper = hyper
        for child, parent in zip(children, parents, strict=True):
            self.lineage[child].append({"step": env_steps, "parent": int(parent), "hyper": self.values_of(child)})
        return Exploit(np.asarray(children, np.int32), np.asarray(parents, np.int32), hyper)

    def to_json(self) -> dict:
        return {
            "hyper": {name: values.tolist() for name, values in self.hyper.items()},
            "lineage": self.lineage,
            "rng": self.rng.bit_generator.state,
        }
