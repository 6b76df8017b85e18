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


@pytest.mark.slow  # tracing Craftax's step for the spec: ~50 s here (Craftax-Symbolic's: ~150 s)
@needs_craftax
def test_craftax_runs_take_the_purejaxrl_and_purejaxql_rnn_presets(env_id=CLASSIC):
    from jaxrl.algos import get_algorithm
    from jaxrl.config import resolve

    ppo = resolve(get_algorithm("ppo"), {"env": env_id})
    assert (ppo.static.recurrent, ppo.static.recurrent_size, ppo.static.hidden) == ("gru", 512, (512,))
    assert (ppo.static.num_envs, ppo.static.rollout_steps, ppo.total_steps) == (1024, 64, 1_000_000_000)
    assert (ppo.hyper.lr, ppo.hyper.gae_lambda, ppo.hyper.max_grad_norm) == (2e-4, 0.8, 1.0)
    pqn = resolve(get_algorithm("pqn"), {"env": env_id, "num_envs": 64})  # a flag beats the preset
    assert (pqn.static.recurrent, pqn.static.num_envs, pqn.static.rollout_steps) == ("gru", 64, 128)
    assert (pqn.hyper.lr, pqn.hyper.q_lambda) == (3e-4, 0.5)


@needs_craftax
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--env", "Craftax-Classic-Pixels-v1"], "unknown env 'Craftax-Classic-Pixels-v1'; did you mean"),
        (["--env", CLASSIC, "--num-envs", "4"], "num_envs = 4 is not divisible by num_minibatches = 8"),
        (["--env", CLASSIC, "--capture-video", "100"], "symbolic Craftax observations are vectors, not frames"),
    ],
)
def test_bad_craftax_input_is_refused_in_one_line(argv, message, capsys):
    from jaxrl.cli import main

    assert main(["train", "ppo", *argv, "--total-steps", "4096"]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1
