"""MAPPO: the critic reads the world state and the policy the agent's observation; it learns the
coordination game; with a GRU (MAPPO-RNN) it remembers what a feed-forward team forgets, resumes
from its checkpoints exactly and plays greedily through its carries; the refusals are one line
each, before compiling."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("jaxmarl")

import jaxrl  # noqa: E402
from jaxrl.algos import get_algorithm, mappo  # noqa: E402
from jaxrl.config import check_critic, resolve  # noqa: E402
from jaxrl.core.types import EnvSpec  # noqa: E402
from jaxrl.errors import ConfigError  # noqa: E402
from jaxrl.training.hooks.teams import TEAM_RETURN  # noqa: E402
from tests.conftest import ChunkRecorder, train  # noqa: E402
from tests.envs import coordination, team_memory  # noqa: E402
from tests.training.test_checkpoints import saved_arrays  # noqa: E402

SPEC = EnvSpec("Toy-v0", (4,), "float32", 3, agents=("a", "b"), action_masks=True, world_state_size=5)


def agent_and_state():
    static = mappo.Static(num_envs=2, rollout_steps=4, num_minibatches=1)
    agent = mappo.ALGORITHM.build(static, SPEC, 10)
    return agent, agent.init(jax.random.PRNGKey(0), mappo.ALGORITHM.Hyper())


def test_value_reads_the_world_state_and_the_policy_the_observation():
    """Two rows with one observation and different world states get different values and the same
    action distribution; one world state and different observations, the same value."""
    agent, state = agent_and_state()
    key, mask = jax.random.PRNGKey(1), jnp.ones((2, 3), bool)
    same_obs = jnp.ones((2, 4))
    world = jnp.stack([jnp.zeros(5), jnp.arange(5.0)])  # only the world state differs between rows
    _, extras = agent.act(state, same_obs, key, {"action_mask": mask, "world_state": world})
    assert abs(float(extras["value"][0] - extras["value"][1])) > 1e-4
    logits = agent.preferences(state, same_obs)  # no world state needed to act greedily
    np.testing.assert_allclose(logits[0], logits[1])
    other_obs = jnp.stack([jnp.zeros(4), jnp.arange(4.0)])
    _, extras = agent.act(state, other_obs, key, {"action_mask": mask, "world_state": jnp.ones((2, 5))})
    assert float(extras["value"][0]) == pytest.approx(float(extras["value"][1]))
    assert not np.allclose(agent.preferences(state, other_obs)[0], agent.preferences(state, other_obs)[1])


@pytest.mark.slow
def test_mappo_learns_to_coordinate(tmp_path, monkeypatch):
    """As IPPO's test: random play scores 0.5 a game, within 16k steps the team scores >= 1.9."""
    monkeypatch.chdir(tmp_path)
    recorder = ChunkRecorder()
    with coordination.registered():
        result = jaxrl.train(
            "mappo", env=coordination.ENV_ID, seeds=1, total_steps=16_384, num_envs=32, rollout_steps=16,
            lr=3e-3, hidden=(64, 64), log_every=512, loggers=[recorder],
        )  # fmt: skip
        team = np.concatenate([chunk[TEAM_RETURN][:, 0] for chunk in recorder.chunks])
        assert team[0] < 1.0 and team[-1] >= 1.9
        assert result.summary["runs"][0]["team_final_return"] >= 1.9
        # the trained policy acts for a game's agents at once: obs [A, ...] -> actions [A]
        policy = jaxrl.load(result.summary["run_dir"])
        for cue in (0, 1):
            np.testing.assert_array_equal(policy(np.eye(2, dtype=np.float32)[[cue, cue]]), [cue, cue])
        sampled = jaxrl.load(result.summary["run_dir"], stochastic=True)  # sampling needs no world state
        assert sampled(np.eye(2, dtype=np.float32)[[1, 1]]).shape == (2,)
        played = jaxrl.evaluate(result.summary["run_dir"], episodes=5)["members"]["s0"]["returns"]
        assert played == [1.0] * 10  # 5 games of 2 agents, each paid 1: episodes count games
        only_first = np.array([[True, False], [True, False]])
        np.testing.assert_array_equal(policy(np.eye(2, dtype=np.float32)[[1, 1]], action_mask=only_first), [0, 0])


def test_mappo_refusals_are_one_line_before_compiling():
    with pytest.raises(ConfigError, match="^mappo trains multi-agent envs; use ppo for CartPole-v1$"):
        jaxrl.train("mappo", env="CartPole-v1", total_steps=1024)
    with pytest.raises(ConfigError, match="^--critic central reads a multi-agent env's world state; CartPole-v1"):
        jaxrl.train("ppo", env="CartPole-v1", critic="central", total_steps=1024)
    with pytest.raises(ConfigError, match="^invalid --critic 'global': choose local or central$"):
        jaxrl.train("mappo", env="MPE_simple_spread_v3", critic="global")
    with pytest.raises(ConfigError, match="^invalid --recurrent-size 0"):
        jaxrl.train("mappo", env="MPE_simple_spread_v3", recurrent="gru", recurrent_size=0)
    with pytest.raises(ConfigError, match="^--recurrent rnn: choose one of none, gru, lstm$"):
        jaxrl.train("mappo", env="SMAX-3m", recurrent="rnn")
    pictures = SPEC._replace(obs_shape=(8, 8, 3))  # a recurrent central critic reads vectors
    check_critic("central", "none", pictures)
    with pytest.raises(ConfigError, match=r"^--critic central with --recurrent takes vector observations; Toy-v0's"):
        check_critic("central", "gru", pictures)


# 16 games of 2 agents, 4 steps each; 20k row steps (~10 s here, most of it compiling).
MEMORY = dict(
    env=team_memory.ENV_ID, num_envs=32, rollout_steps=16, num_minibatches=2, update_epochs=4, lr=3e-3,
    hidden=(64,), recurrent_size=32,
)  # fmt: skip


def answered(policy, bit: int) -> list[int]:
    """A loaded policy's answers (both agents') in a game of the bit played by hand: the bit at
    the first step, nothing at the next two, the question at the last."""
    cue, nothing, asked = ([2.0 * bit - 1, 0.0], [0.0, 0.0], [0.0, 1.0])
    for step, obs in enumerate([cue, nothing, nothing, asked]):
        actions = policy(np.array([obs, obs], np.float32), first=step == 0)
    return actions.tolist()


@pytest.mark.slow
@pytest.mark.parametrize("recurrent", ["gru", "none"])
def test_recurrent_mappo_remembers_the_cue_a_feed_forward_team_forgets(recurrent, tmp_path):
    """The bit is shown at the first of 4 steps and asked at the last: MAPPO-GRU's team scores
    ~2.0 a game (each agent right) over its last 10 iterations, and greedily 1 per agent in every
    game `jaxrl eval` plays; feed-forward MAPPO, on the same budget, ~1.0 (each agent at chance)."""
    recorder = ChunkRecorder()
    with team_memory.registered():
        result = jaxrl.train(
            "mappo", seeds=2, total_steps=20_480, log_every=2048, recurrent=recurrent, loggers=[recorder],
            logdir=str(tmp_path), **MEMORY,
        )  # fmt: skip
        team = np.concatenate([chunk[TEAM_RETURN] for chunk in recorder.chunks])[-10:].mean(axis=0)  # [seeds]
        played = jaxrl.evaluate(result.summary["run_dir"], episodes=8)["members"]
        policy = jaxrl.load(result.summary["run_dir"])  # a game's two agents, one step a call
        answers = [answered(policy, bit) for bit in (0, 1, 1, 0)]
    greedy = np.array([member["returns"] for member in played.values()])  # [seeds, 8 games x 2 agents]
    if recurrent == "gru":
        assert (team >= 1.9).all() and (greedy == 1.0).all()
        assert answers == [[0, 0], [1, 1], [1, 1], [0, 0]]  # the loaded policy's carries remember it
    else:
        assert ((0.8 < team) & (team < 1.2)).all() and (greedy.mean(axis=1) < 0.8).all()


@pytest.mark.slow
def test_recurrent_mappo_resumes_from_its_checkpoint_as_if_never_stopped(tmp_path):
    """Stopped half-way and resumed, MAPPO-GRU ends with the very parameters (actor and critic)
    of the run that was never stopped: the checkpoint holds both carries and the envs' states."""
    options = {**MEMORY, "total_steps": 2048, "log_every": 512, "checkpoint_every": 512}
    with team_memory.registered():
        config = resolve(get_algorithm("mappo"), {**options, "recurrent": "gru", "logdir": str(tmp_path)})
        whole = train(config)
        stopped = train(config, should_stop=lambda env_steps: env_steps >= 1024)
        assert stopped["interrupted_by"] == "request"
        resumed = train(config, resume=stopped["run_dir"])
    assert resumed["runs"][0]["env_steps"] == 2048
    ends = [saved_arrays(Path(summary["run_dir"]))["agent"]["params"] for summary in (whole, resumed)]
    assert {"actor", "critic"} <= set(ends[0]["params"])
    jax.tree.map(np.testing.assert_array_equal, *ends)
