"""The evaluation hook (`--eval-every STEPS`): every STEPS env steps per member and at the end of
the budget, each member of this process plays `eval_episodes` whole greedy games on envs of its own (built once, apart from
the training envs, unclipped, as `jaxrl eval` plays them); their mean is logged as eval/return
and kept in the scoreboard, hence in checkpoints and summary.json. On a multi-agent env a game
is a row per agent: eval/return is an agent's mean, eval/team_return a game's, and eval/win_rate
the share of games won where the env says what a win returns (SMAX)."""

import numpy as np

from jaxrl.config import RunConfig
from jaxrl.training.assembly import assemble
from jaxrl.training.distributed import Peers
from jaxrl.training.evaluation import play
from jaxrl.training.fleet import Fleet
from jaxrl.training.hooks.base import Chunk, Hook, Loop
from jaxrl.training.hooks.teams import evaluated
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
        size, spec = len(loop.plan.population.seeds), self.config.spec
        if self.parts is None:  # every member plays the same games: seeded alike, as `jaxrl eval` seeds them
            rows = self.config.eval_episodes * (len(spec.agents) or 1)  # a multi-agent game: a row per agent
            self.parts = assemble(self.config, [self.config.seed] * size, envs_per_member=rows, evaluation=True)
        scores = play(self.fleet.agent, self.fleet.agent_states(), self.parts.env, size, self.config.seed, False)
        means = evaluated(scores.returns, len(spec.agents), spec.win_return)  # [members of this process] each
        everyone = {}
        for name, values in means.items():
            column = np.full(chunk.metrics["env_steps"].shape, np.nan)  # at the chunk's last iteration only
            column[-1] = values
            chunk.metrics[f"eval/{name}"] = column
            everyone[name] = self.peers.gather(values[:, None])[:, 0].tolist()
        self.scores.add_evaluation(loop.env_steps, everyone.pop("return"), **everyone)

    def at_end(self, loop: Loop) -> None:
        self.close()

    def close(self) -> None:
        if self.parts is not None:
            self.parts.env.close()
            self.parts = None
