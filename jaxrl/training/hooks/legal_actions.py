"""The legal-actions guard: a run on an env whose action mask allows no action in some state
stops after that chunk, in one line, rather than training on actions the env forbids."""

import numpy as np

from jaxrl.errors import ConfigError
from jaxrl.training.hooks.base import Chunk, Hook, Loop


class LegalActions(Hook):
    def __init__(self, env_id: str):
        self.env_id = env_id

    def after_chunk(self, loop: Loop, chunk: Chunk) -> None:
        stuck = chunk.metrics.get("no_legal_action")  # [n, P]; absent: the env reports no masks
        if stuck is None or not np.any(stuck):
            return
        iteration, member = np.argwhere(np.asarray(stuck) > 0)[0]
        step = int(chunk.metrics["env_steps"][iteration, member])
        raise ConfigError(
            f"{self.env_id}'s action mask allowed no action in a state before env step {step:,}: "
            "an env with masks must leave at least one legal action"
        )
