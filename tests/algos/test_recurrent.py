"""Recurrent PPO, PQN, A2C and REINFORCE (`recurrent` gru or lstm): they solve the one-bit memory probe that the
same feed-forward learner, on the same budget, answers at chance, and play it greedily through
their carry; the bad settings fail in one line."""

import jax
import numpy as np
import pytest

import jaxrl
from jaxrl.envs.memory import OneBitMemory, OneBitParams
from jaxrl.errors import ConfigError
from jaxrl.functional import make_evaluate, make_train

# The bit is shown at the first of 4 steps and asked at the last (tests/envs/test_memory_envs.py).
EPOCHS = dict(num_envs=16, rollout_steps=16, num_minibatches=2, update_epochs=4, total_steps=10_240, lr=3e-3)
OPTIONS = {
    "ppo": EPOCHS,
    "pqn": EPOCHS,
    # one gradient step a rollout: more, shorter rollouts at a larger rate
    "a2c": dict(num_envs=16, rollout_steps=8, total_steps=10_240, lr=1e-2),
    "reinforce": dict(num_envs=16, rollout_steps=16, total_steps=10_240, lr=3e-3),
}


def trained(algo: str, **options):
    """(the mean return over the last 20 iterations on the one-bit memory, 2 seeds in one
    program; the mean return of their greedy games, 16 each)."""
    options = OPTIONS[algo] | options
    train, hyper = make_train(algo, OneBitMemory(), OneBitParams(4), **options)
    states, metrics = jax.jit(jax.vmap(train, in_axes=(0, None)))(jax.random.split(jax.random.key(0), 2), hyper)
    evaluate = make_evaluate(algo, OneBitMemory(), OneBitParams(4), episodes=16, **options)
    greedy = jax.jit(jax.vmap(evaluate))(jax.random.split(jax.random.key(1), 2), states)
    return float(np.nanmean(metrics["episode_return"][:, -20:])), float(greedy.mean())


@pytest.mark.parametrize(
    ("algo", "kind"), [("ppo", "gru"), ("ppo", "lstm"), ("pqn", "gru"), ("a2c", "gru"), ("reinforce", "gru")]
)
def test_recurrent_learners_remember_the_bit(algo, kind):
    """~11 s each here, most of it compiling. PPO reaches ~0.999 (LSTM ~0.980), PQN ~0.976 (its epsilon of
    0.05 guesses), A2C ~0.998, REINFORCE ~0.963; the greedy games (evaluation threading the
    carry) remember it too."""
    training, greedy = trained(algo, recurrent=kind, recurrent_size=32)
    assert training >= 0.95 and greedy >= 0.95


@pytest.mark.parametrize("algo", ["ppo", "pqn", "a2c", "reinforce"])
def test_feed_forward_learners_on_the_same_budget_stay_at_chance(algo):
    """The recurrent runs' control: without the core the bit is gone by the time it is asked."""
    training, greedy = trained(algo)
    assert 0.4 < training < 0.6 and greedy < 0.8


@pytest.mark.parametrize(
    ("algo", "options", "message"),
    [
        ("ppo", {"recurrent": "rnn"}, "--recurrent rnn: choose one of none, gru, lstm"),
        ("ppo", {"recurrent": "gru", "recurrent_size": 0}, "invalid --recurrent-size 0"),
        ("ppo", {"recurrent": "gru", "num_envs": 6, "num_minibatches": 4}, "cuts minibatches along the envs"),
        ("a2c", {"recurrent": "rnn"}, "--recurrent rnn: choose one of none, gru, lstm"),
        ("reinforce", {"recurrent": "gru", "recurrent_size": 0}, "invalid --recurrent-size 0"),
        ("dqn", {"recurrent": "gru"}, "--recurrent is taken by ppo, reinforce, a2c, pqn, ippo"),
        ("ddqn", {"recurrent": "gru"}, "--recurrent is taken by ppo, reinforce, a2c, pqn, ippo"),
        ("sac", {"recurrent": "gru"}, "--recurrent is taken by ppo, reinforce, a2c, pqn, ippo"),
    ],
)
def test_bad_recurrent_settings_fail_in_one_line(algo, options, message):
    with pytest.raises(ConfigError) as error:
        make_train(algo, OneBitMemory(), OneBitParams(4), **options)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_loaded_recurrent_policy_keeps_its_carry_between_calls_and_resets_it_at_first(tmp_path):
    """`jaxrl.load(run)` of PPO-GRU on the one-bit memory, played by hand one step a call: it
    remembers the bit shown at the first call when asked three calls later; marking every call
    `first` (the carry reset each time) leaves it guessing; its export is refused in one line."""
    options = OPTIONS["ppo"] | dict(recurrent="gru", recurrent_size=32)
    env, params = OneBitMemory(), OneBitParams(4)
    run_dir = jaxrl.train("ppo", env=env, env_params=params, logdir=str(tmp_path), **options).run_dir
    policy = jaxrl.load(run_dir, env=env, env_params=params)

    def answers(forget: bool) -> float:
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(3), 64), params)
        for step in range(params.length):
            action = policy(np.asarray(obs), first=forget or step == 0)
            obs, state, reward, *_ = jax.vmap(env.step, in_axes=(None, 0, 0, None))(
                jax.random.key(4), state, action, params
            )
        return float(reward.mean())

    assert answers(forget=False) >= 0.95 and 0.2 < answers(forget=True) < 0.8
    with pytest.raises(ConfigError, match="its export is not built yet"):
        jaxrl.export(run_dir, env=env, env_params=params, episodes=0)
