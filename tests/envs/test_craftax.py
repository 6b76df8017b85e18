"""The Craftax backend: gymnax 1.0's step from Craftax's five values, the time limit a
truncation with its final obs, achievements per name, the score as % of max. Skipped where
Craftax is not installed (it is no dependency of jaxrl)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs import craftax, gymnax
from jaxrl.envs.ids import UnknownEnvError

CLASSIC = "Craftax-Classic-Symbolic-v1"


def test_craftax_ids_are_claimed_and_refused_in_one_line_without_craftax(monkeypatch):
    assert craftax.claims(CLASSIC) and craftax.claims("CartPole-v1") is None
    assert not craftax.knows("Craftax-Pixels-v1")  # pixels: not offered
    monkeypatch.setattr(craftax, "installed", lambda: False)
    with pytest.raises(UnknownEnvError, match="pip install craftax==1.6.1"):
        craftax.knows(CLASSIC)


needs_craftax = pytest.mark.skipif(not craftax.installed(), reason="craftax is not installed")


@needs_craftax
def test_max_return_and_percent_of_max():
    assert craftax.max_return(CLASSIC) == 22.0  # 22 achievements, 1 each
    assert craftax.max_return("Craftax-Symbolic-v1") == 226.0
    assert float(craftax.percent_of_max(CLASSIC, jnp.asarray(11.0))) == 50.0


@pytest.mark.slow  # compiling Craftax's step: ~70 s here
@needs_craftax
def test_the_time_limit_truncates_with_the_final_obs_and_achievements_are_named():
    env, params = craftax.named(CLASSIC)
    params = params.replace(max_timesteps=3)
    assert craftax.spec(CLASSIC).obs_shape == (1345,) and craftax.action_space(CLASSIC) == "Discrete(17)"
    key = jax.random.PRNGKey(0)
    obs, state = env.reset(key, params)
    step = jax.jit(env.step)
    for t in range(3):
        obs, state, _, terminated, truncated, info = step(jax.random.fold_in(key, t), state, 0, params)
    assert bool(truncated) and not bool(terminated)
    assert not np.array_equal(info["final_observation"], obs)  # the obs is the new episode's first
    names = [name for name in info if name.startswith(craftax.ACHIEVEMENT_TAG)]
    assert len(names) == 22 and f"{craftax.ACHIEVEMENT_TAG}collect_wood" in names
    assert int(state.game.timestep) == 0  # reset inside the ending step

    pool = gymnax.make(CLASSIC, [0, 1], instance=(env, params))
    handle, _ = pool.reset()
    for _ in range(3):
        handle, result = pool.step(handle, jnp.zeros(2, jnp.int32))
    assert result.truncated.all() and result.reset_next.all()  # jaxrl bootstraps from the final obs


@pytest.mark.slow  # compiling Craftax's pool step: ~60 s here
@needs_craftax
def test_ended_episodes_restart_from_a_few_fresh_worlds_and_report_their_score():
    env, params = craftax.named(CLASSIC)
    pool = gymnax.make(CLASSIC, list(range(32)), instance=(env, params.replace(max_timesteps=4)))
    step = jax.jit(pool.step)
    handle, _ = pool.reset()
    rewards = []
    for t in range(4):
        handle, result = step(handle, jax.random.randint(jax.random.PRNGKey(t), (32,), 0, 17))
        rewards.append(result.reward)
    assert result.truncated.all() and result.reset_next.all() and not result.terminated.any()
    game = handle.state.game
    assert (game.timestep == 0).all() and (handle.state.episode_return == 0).all()
    # 32 envs: 32 // 16 = 2 fresh worlds, the k-th ended env taking world k mod 2
    maps = np.asarray(game.map)
    assert (maps[0::2] == maps[0]).all() and (maps[1::2] == maps[1]).all() and (maps[0] != maps[1]).any()
    # the score is the episode's return, recounted from the raw rewards, as % of 22
    recount = 100.0 * np.sum(rewards, axis=0) / 22.0
    np.testing.assert_allclose(result.episode_info[craftax.SCORE_TAG], recount, rtol=1e-5, atol=1e-6)
    assert len([tag for tag in result.episode_info if tag.startswith(craftax.ACHIEVEMENT_TAG)]) == 22
    handle, result = step(handle, jnp.zeros(32, jnp.int32))  # the reset step: nothing happens
    assert not result.reward.any() and not result.game_over.any()
    assert (handle.state.game.timestep == 0).all()
