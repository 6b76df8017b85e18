"""The teams hook: on a multi-agent env (`EnvSpec.agents`), each chunk's `team/return`, a game's
agents' returns summed, averaged over the games that ended in an iteration; `agent/<name>/return`,
each agent's own; and on an env that says what a win returns (SMAX), `smax/win_rate`, the share of
ended games won. The logging hook logs them with the rest (TensorBoard, W&B), and the summary's
runs carry the team's final return and the last chunk's win rate.

Every agent of a game ends with it (`jaxrl.envs.jaxmarl`), so the loop's row counts hold whole
games: games ended = rows ended / A, and the rows' return sum is the teams' return sum."""

import numpy as np

from jaxrl.training.hooks.base import Chunk, Hook, Loop

TEAM_RETURN = "team/return"
WIN_RATE = "smax/win_rate"


def per_game(total: np.ndarray, games: np.ndarray) -> np.ndarray:
    """total / games, NaN where no game ended (then nothing is logged)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(games > 0, total / np.maximum(games, 1e-9), np.nan)


def team_returns(metrics: dict, num_agents: int) -> np.ndarray:
    """[iterations, P]: the mean team return of the games that ended in each iteration."""
    return per_game(metrics["episode_return_sum"], metrics["episodes_ended"] / num_agents)


def agent_returns(metrics: dict, agents: tuple[str, ...]) -> dict:
    """{"agent/<name>/return": [iterations, P]}: each agent's mean return over the games that
    ended in each iteration, from the loop's "agent_return_sum_<index>" (taken out of metrics)."""
    games = metrics["episodes_ended"] / len(agents)
    return {
        f"agent/{name}/return": per_game(metrics.pop(f"agent_return_sum_{index}"), games)
        for index, name in enumerate(agents)
    }


class Teams(Hook):
    def __init__(self, agents: tuple[str, ...]):
        self.agents = agents
        self.win_rate: np.ndarray | None = None  # [P]: the last chunk's share of games won

    def after_chunk(self, loop: Loop, chunk: Chunk) -> None:
        metrics = chunk.metrics
        metrics[TEAM_RETURN] = team_returns(metrics, len(self.agents))
        metrics.update(agent_returns(metrics, self.agents))
        if "episodes_won" in metrics:  # rows won / rows ended: a game's agents win together
            won = metrics.pop("episodes_won")
            metrics[WIN_RATE] = per_game(won, metrics["episodes_ended"])
            self.win_rate = per_game(won.sum(axis=0), metrics["episodes_ended"].sum(axis=0))


def evaluated(returns: np.ndarray, num_agents: int, win_return: float | None) -> dict:
    """An evaluation's means per member ([P] each) from its rows' returns [P, games x A] (game-major,
    as the pool folds them): "return", a row's (an agent's, as `jaxrl eval` prints it); on a
    multi-agent env "team_return", a game's agents' summed; with a win return, "win_rate", the
    share of games won (rows won / rows, as the loop counts them)."""
    means = {"return": returns.mean(axis=1)}
    if num_agents:
        means["team_return"] = returns.reshape(len(returns), -1, num_agents).sum(axis=2).mean(axis=1)
    if win_return is not None:
        means["win_rate"] = (returns > win_return).mean(axis=1)
    return means


def add_team_summary(summary: dict, agents: tuple[str, ...], teams: Teams | None = None) -> None:
    """summary.json's agents, and each run's `team_final_return`: its final return (the mean of
    the last 20 rows' episodes) times the agents, the team's return over those games (the oldest
    game may be cut by the window); with a win rate, each run's `win_rate` over the last chunk."""
    summary["agents"] = list(agents)
    win_rate = None if teams is None else teams.win_rate
    for index, run in enumerate(summary["runs"]):
        final = run["final_return"]
        run["team_final_return"] = None if final is None else final * len(agents)
        if win_rate is not None and index < len(win_rate):
            run["win_rate"] = None if np.isnan(win_rate[index]) else float(win_rate[index])
