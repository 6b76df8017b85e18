"""The JaxMARL backend: agents folded into rows, rewards and ends as the env gives them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("jaxmarl")

from jaxrl.envs import jaxmarl as backend  # noqa: E402
from jaxrl.envs.ids import UnknownEnvError  # noqa: E402

SPREAD = "MPE_simple_spread_v3"


def test_rows_are_the_agents_of_each_game_in_order():
    pool = backend.make(SPREAD, list(range(6)))  # 2 games of 3 agents
    env = backend.named(SPREAD)
    handle, obs = pool.reset()
    assert obs.shape == (6, 18) and pool.num_envs == 6
    raw = jax.vmap(env.get_obs)(handle.state)
    for game in range(2):
        for index, agent in enumerate(env.agents):
            np.testing.assert_array_equal(obs[game * 3 + index], raw[agent][game])


def test_rewards_and_game_ends_recount_the_envs_own():
    """Stepping the pool and the raw env with the same keys and actions: each row's reward is
    its agent's, every row of a game ends when the game does, and a row's episode return summed
    over the game's agents is the team's return counted from the env's reward dicts."""
    pool = backend.make(SPREAD, [7, 7, 7])
    env = backend.named(SPREAD)
    handle, _ = pool.reset()
    state, key = jax.tree.map(lambda x: x[0], handle.state), handle.key[0]
    step, raw_step = jax.jit(pool.step), jax.jit(env.step)
    rng = np.random.default_rng(0)
    team, recount, ends = 0.0, 0.0, 0
    for _ in range(60):  # more than two 25-step games
        action = rng.integers(0, 5, 3)
        handle, out = step(handle, jnp.asarray(action, jnp.int32))
        key, use = jax.random.split(key)
        _, state, rewards, dones, _ = raw_step(use, state, {a: action[i] for i, a in enumerate(env.agents)})
        np.testing.assert_allclose(out.reward, [rewards[a] for a in env.agents], rtol=1e-6)
        assert out.terminated.tolist() == [bool(dones["__all__"])] * 3
        team += float(out.game_reward.sum())
        recount += sum(float(rewards[a]) for a in env.agents)
        ends += int(out.game_over[0])
    assert ends == 2 and team == pytest.approx(recount, rel=1e-6)


def test_agent_ids_and_padding():
    spec = backend.spec("MPE_simple_tag_v3", agent_ids=True)  # adversaries see 16, the runner 14
    assert spec.obs_shape == (16 + 4,) and spec.num_actions == 5
    _, obs = backend.make("MPE_simple_tag_v3", list(range(4)), agent_ids=True).reset()
    np.testing.assert_array_equal(obs[:, 16:], np.eye(4))
    assert (obs[3, 14:16] == 0).all()  # the runner's padding


def test_refusals_are_one_line():
    with pytest.raises(UnknownEnvError, match="multiple of 3"):
        backend.make(SPREAD, list(range(4)))
    with pytest.raises(UnknownEnvError, match="JaxMARL cannot make it"):
        backend.named("SMAX-no_such_map")


def test_action_masks_are_in_the_info_after_reset_and_step():
    """MPE allows every action; SMAX's dead or out-of-range units do not (the env's own masks),
    and the info after a reset is the same structure as after a step."""
    pool = backend.make(SPREAD, list(range(3)))
    handle, _ = pool.reset()
    assert pool.first_info(handle)["action_mask"].all()
    assert pool.spec.agents == ("agent_0", "agent_1", "agent_2")
    smax = backend.make("SMAX-3m", list(range(3)))
    env = backend.named("SMAX-3m")
    handle, _ = smax.reset()
    first = smax.first_info(handle)["action_mask"]
    available = env.get_avail_actions(jax.tree.map(lambda x: x[0], handle.state))
    np.testing.assert_array_equal(first, np.stack([available[a] for a in env.agents]))
    assert not first.all() and first.dtype == bool
    _, out = jax.jit(smax.step)(handle, jnp.zeros(3, jnp.int32))
    assert out.info["action_mask"].shape == first.shape
