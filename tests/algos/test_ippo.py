"""IPPO: the agents of a cooperative matrix game learn to coordinate; the team and agent returns
the loop logs are the env's rewards recounted; PBT over its teams runs in one program;
multi-agent refusals are one line each, before compiling."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("jaxmarl")

import jaxrl  # noqa: E402
from jaxrl.core.episodes import EndedEpisodes, init_stats, update_stats  # noqa: E402
from jaxrl.core.programs import team_counts  # noqa: E402
from jaxrl.errors import ConfigError  # noqa: E402
from jaxrl.logs.tensorboard import EVENT_FILES, event_records  # noqa: E402
from jaxrl.training.hooks.teams import TEAM_RETURN, agent_returns, evaluated, team_returns  # noqa: E402
from tests.conftest import ChunkRecorder  # noqa: E402
from tests.envs import coordination  # noqa: E402


@pytest.mark.slow
def test_ippo_learns_to_coordinate(tmp_path, monkeypatch):
    """Random play scores 0.5 a game; within 16k steps both agents play the cue (team >= 1.9)."""
    monkeypatch.chdir(tmp_path)
    recorder = ChunkRecorder()
    with coordination.registered():
        result = jaxrl.train(
            "ippo", env=coordination.ENV_ID, seeds=1, total_steps=16_384, num_envs=32, rollout_steps=16,
            lr=3e-3, log_every=512, loggers=[recorder],
        )  # fmt: skip
    team = np.concatenate([chunk[TEAM_RETURN][:, 0] for chunk in recorder.chunks])
    assert team[0] < 1.0 and team[-1] >= 1.9
    run = result.summary["runs"][0]
    assert result.summary["agents"] == ["agent_0", "agent_1"] and run["team_final_return"] >= 1.9


def test_logged_team_and_agent_returns_recount_the_envs_rewards():
    """The loop's counts of a rollout of random play on simple_spread (its rows' episodes, as
    jaxrl.core.episodes keeps them) give team/return = the games' summed rewards and
    agent/<name>/return = each agent's, recounted from the env's own reward dicts."""
    from jaxrl.envs import jaxmarl as adapter

    env = adapter.named("MPE_simple_spread_v3")
    pool = adapter.make("MPE_simple_spread_v3", list(range(6)))  # 2 games
    handle, _ = pool.reset()
    step = jax.jit(pool.step)
    stats, ended, summed = init_stats(6), 0, 0.0
    rng = np.random.default_rng(1)
    games = []  # each ended game's return per agent [A], recounted from the raw env's reward dicts
    running = np.zeros((2, 3))
    ends = []  # the loop's EndedEpisodes of every step
    for _ in range(60):  # two games each (of 25 steps and the reset's)
        action = jnp.asarray(rng.integers(0, 5, 6), jnp.int32)
        state, keys = handle.state, handle.key
        handle, out = step(handle, action)
        _, use = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
        by_game = np.asarray(action).reshape(2, 3)
        _, _, rewards, dones, _ = jax.vmap(env.step)(use, state, {a: by_game[:, i] for i, a in enumerate(env.agents)})
        running += np.stack([np.asarray(rewards[a]) for a in env.agents], axis=1)
        games += list(running[np.asarray(dones["__all__"])])
        running[np.asarray(dones["__all__"])] = 0.0
        stats, done = update_stats(stats, out.game_reward, out.game_over, jnp.ones(6, bool))
        ended, summed = ended + int(done.ended.sum()), summed + float(done.episode_return.sum())
        ends.append(done)
    metrics = {"episodes_ended": np.array([[ended]]), "episode_return_sum": np.array([[summed]])}
    assert len(games) == 4 and team_returns(metrics, 3)[0, 0] == pytest.approx(np.sum(games, 1).mean(), rel=1e-5)
    rollout = jax.tree.map(lambda *steps: jnp.stack(steps)[:, None], *ends)  # [T, P = 1, E]
    counts = team_counts(EndedEpisodes(*rollout), pool.spec)  # what the loop adds to an iteration's metrics
    metrics |= {key: np.asarray(value)[None] for key, value in counts.items()}
    logged = agent_returns(metrics, pool.spec.agents)
    for index, name in enumerate(pool.spec.agents):
        assert logged[f"agent/{name}/return"][0, 0] == pytest.approx(np.mean(games, 0)[index], rel=1e-5)


def test_multi_agent_refusals_are_one_line_before_compiling():
    with pytest.raises(ConfigError, match="^ippo trains multi-agent envs; use ppo for CartPole-v1$"):
        jaxrl.train("ippo", env="CartPole-v1", total_steps=1024)
    with pytest.raises(ConfigError, match="invalid --num-envs 8: MPE_simple_spread_v3's games have 3 agents"):
        jaxrl.train("ppo", env="MPE_simple_spread_v3", num_envs=8, total_steps=8192)


@pytest.mark.slow
def test_pbt_over_ippo_exploits_and_draws_its_lineage(tmp_path):
    """PBT of IPPO's teams in one program, as single-agent PBT: within a tiny budget (3 ready
    points), the bottom member copies the top at each, and the lineage and its plot are written."""
    with coordination.registered():
        summary = jaxrl.pbt(
            "ippo", env=coordination.ENV_ID, population=4, lr=(1e-4, 1e-2, "log"), ready_every=512,
            total_steps=2048, num_envs=8, rollout_steps=16, log_every=256, logdir=str(tmp_path), name="pbt",
        ).summary  # fmt: skip
    lineage = summary["pbt"]["lineage"]
    copies = [event for events in lineage.values() for event in events if event["parent"] is not None]
    assert len(lineage) == 4 and len(copies) == 3
    assert all(run["team_final_return"] is not None for run in summary["runs"])
    run_dir = Path(summary["run_dir"])
    assert (run_dir / "pbt.png").stat().st_size > 0 and "best member's final values" in (run_dir / "pbt.md").read_text()


def test_an_evaluation_of_a_team_gives_agent_team_and_win_means():
    """Rows game-major [P, games x A]: three games of two agents, a win paying an agent over 0.5."""
    returns = np.array([[1.0, 0.0, 1.0, 1.0, 0.0, 0.0]])
    means = evaluated(returns, 2, 0.5)
    assert means.keys() == {"return", "team_return", "win_rate"}
    np.testing.assert_allclose([means["return"][0], means["team_return"][0], means["win_rate"][0]], [0.5, 1.0, 0.5])
    assert evaluated(returns, 0, None).keys() == {"return"}  # a single-agent env: the return alone


@pytest.mark.slow
def test_eval_every_on_a_team_logs_its_team_return_and_win_rate(tmp_path):
    """--eval-every on the coordination game (a win: an agent paid 1): 3 games of 2 agents each
    time; once learnt, every greedy game is won by both agents (team 2.0, win rate 1.0); the
    means go to TensorBoard and summary.json."""
    from tensorboardX.proto.event_pb2 import Event

    spec = coordination.BACKEND.spec(coordination.ENV_ID)._replace(win_return=0.5)
    winnable = coordination.BACKEND._replace(spec=lambda env_id, **_: spec)
    with coordination.registered("coordination", winnable):
        result = jaxrl.train(
            "ippo", env=coordination.ENV_ID, seeds=1, total_steps=16_384, num_envs=32, rollout_steps=16,
            lr=3e-3, log_every=4096, eval_every=8192, eval_episodes=3, logdir=str(tmp_path),
        )  # fmt: skip
    run = result.summary["runs"][0]
    assert [step for step, _ in run["eval_returns"]] == [8192, 16384]
    assert (run["eval_return"], run["eval_team_return"], run["eval_win_rate"]) == (1.0, 2.0, 1.0)
    logged = {}
    for path in (Path(result.summary["run_dir"]) / "s0").glob(EVENT_FILES):
        for raw in event_records(path):
            for value in Event.FromString(raw).summary.value:
                logged.setdefault(value.tag, []).append(value.simple_value)
    assert len(logged["eval/team_return"]) == len(logged["eval/win_rate"]) == 2
    assert logged["eval/team_return"][-1] == 2.0 and logged["eval/win_rate"][-1] == 1.0
