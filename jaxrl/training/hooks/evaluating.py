"""The evaluation hook (`--eval-every STEPS`): every STEPS env steps per member and at the end of
the budget, each member of this process plays `eval_episodes` whole greedy games on envs of its own (built once, apart from
the training envs, unclipped, as `jaxrl eval` plays them); their mean is logged as eval/return
and kept in the scoreboard, hence in checkpoints and summary.json."""

import numpy as np

from jaxrl.config import RunConfig
from jaxrl.training.assembly import assemble
from jaxrl.training.distributed import Peers
from jaxrl.training.evaluation import play
from jaxrl.training.fleet import Fleet
from jaxrl.training.hooks.base import Chunk, Hook, Loop
from jaxrl.training.scoreboard import Scoreboard


class Evaluation(Hook):
    def __init__(self, config: RunConfig, fleet: Fleet, peers: Peers, scores: Scoreboard):
        self.config, self.fleet, self.peers, self.scores = config, fleet, peers, scores
        self.parts = None  # the evaluation envs, made at the first evaluation

    def after_chunk(self, loop: Loop, chunk: Chunk) -> None:
        every, before = self.config.eval_every, loop.env_steps - chunk.iterations * loop.plan.steps_per_iteration
        crossed = every and loop.env_steps // every != before // every
        last = every and loop.done >= loop.plan.num_iterations  # a budget that ends between multiples
        if not (crossed or last):
            return
        size = len(loop.plan.population.seeds)
        if self.parts is None:  # every member plays the same games: seeded alike, as `jaxrl eval` seeds them
            self.parts = assemble(
                self.config, [self.config.seed] * size, envs_per_member=self.config.eval_episodes, evaluation=True
            )
        scores = play(self.fleet.agent, self.fleet.agent_states(), self.parts.env, size, self.config.seed, False)
        means = scores.returns.mean(axis=1)  # [members of this process]
        column = np.full(chunk.metrics["env_steps"].shape, np.nan)  # at the chunk's last iteration only
        column[-1] = means
        chunk.metrics["eval/return"] = column
        everyone = self.peers.gather(means[:, None])[:, 0]
        self.scores.add_evaluation(loop.env_steps, everyone.tolist())

    def at_end(self, loop: Loop) -> None:
        self.close()

    def close(self) -> None:
        if self.parts is not None:
            self.parts.env.close()
            self.parts = None
