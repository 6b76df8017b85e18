"""The teams hook: on a multi-agent env (`EnvSpec.agents`), each chunk's `team/return`, a game's
agents' returns summed, averaged over the games that ended in an iteration; the logging hook
logs it with the rest (TensorBoard, W&B), and the summary's runs carry the team's final return.

Every agent of a game ends with it (`jaxrl.envs.jaxmarl`), so the loop's row counts hold whole
games: games ended = rows ended / A, and the rows' return sum is the teams' return sum."""

import numpy as np

from jaxrl.training.hooks.base import Chunk, Hook, Loop

TEAM_RETURN = "team/return"


def team_returns(metrics: dict, num_agents: int) -> np.ndarray:
    """[iterations, P]: the mean team return of the games that ended in each iteration, NaN
    where none did (then nothing is logged)."""
    games = metrics["episodes_ended"] / num_agents
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(games > 0, metrics["episode_return_sum"] / games, np.nan)


class Teams(Hook):
    def __init__(self, agents: tuple[str, ...]):
        self.num_agents = len(agents)

    def after_chunk(self, loop: Loop, chunk: Chunk) -> None:
        chunk.metrics[TEAM_RETURN] = team_returns(chunk.metrics, self.num_agents)


def add_team_summary(summary: dict, agents: tuple[str, ...]) -> None:
    """summary.json's agents, and each run's `team_final_return`: its final return (the mean of
    the last 20 rows' episodes) times the agents, the team's return over those games (the oldest
    game may be cut by the window)."""
    summary["agents"] = list(agents)
    for run in summary["runs"]:
        final = run["final_return"]
        run["team_final_return"] = None if final is None else final * len(agents)
