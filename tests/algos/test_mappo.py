"""MAPPO: the critic reads the world state and the policy the agent's observation; it learns the
coordination game; the refusals are one line each, before compiling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("jaxmarl")

import jaxrl  # noqa: E402
from jaxrl.algos import mappo  # noqa: E402
from jaxrl.core.types import EnvSpec  # noqa: E402
from jaxrl.errors import ConfigError  # noqa: E402
from jaxrl.training.hooks.teams import TEAM_RETURN  # noqa: E402
from tests.conftest import ChunkRecorder  # noqa: E402
from tests.envs import coordination  # noqa: E402

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
    with pytest.raises(ConfigError, match="^--critic central is feed-forward only: drop --recurrent gru$"):
        jaxrl.train("mappo", env="MPE_simple_spread_v3", recurrent="gru")
