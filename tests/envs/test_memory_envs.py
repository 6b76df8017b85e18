"""The memory envs: what each observation shows and hides, that jaxrl's gymnax backend steps
them, and that a feed-forward PPO cannot solve the one-bit memory probe."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs import gymnax as backend
from jaxrl.envs.memory import OneBitMemory, OneBitParams, memory_chain
from jaxrl.functional import make_train

FACTORY = "jaxrl.envs.memory:"


def play(env_id, actions, seeds=(0, 1, 2, 3)):
    """(obs [T + 1, N, ...], rewards [T, N], terminated [T, N]) of a pool of the env stepped
    through jaxrl's gymnax backend with `actions(obs) -> [N]`."""
    pool = backend.make(env_id, list(seeds))
    handle, first = pool.reset()
    seen, rewards, ends = [first], [], []
    for _ in range(12):
        handle, step = pool.step(handle, actions(seen[-1]))
        seen.append(step.obs)
        rewards.append(step.reward)
        ends.append(step.terminated)
    return np.stack(seen), np.stack(rewards), np.stack(ends)


def test_one_bit_memory_pays_the_bit_shown_only_at_the_first_step():
    remembered = {}

    def answer_from_memory(obs):  # a scripted memory: keep the cue, answer it when asked
        cue = np.asarray(obs[:, 0])
        for env in np.flatnonzero(cue != 0):
            remembered[env] = int(cue[env] > 0)
        return jnp.asarray([remembered[env] for env in range(len(cue))])

    obs, rewards, ends = play(FACTORY + "one_bit_memory", answer_from_memory)
    length = OneBitParams().length
    assert ends[length - 1 :: length].all() and ends.sum() == ends[length - 1 :: length].sum()
    np.testing.assert_array_equal(rewards[length - 1 :: length], 1.0)  # memory: always right
    asked = obs[:-1][obs[:-1, :, 1] == 1]
    np.testing.assert_array_equal(asked[:, 0], 0.0)  # the question shows nothing of the bit


def test_one_bit_memory_answered_blind_is_right_half_the_time():
    _, rewards, _ = play(FACTORY + "one_bit_memory", lambda obs: jnp.zeros(len(obs), jnp.int32), seeds=range(64))
    assert 0.35 < rewards.sum() / (64 * 3) < 0.65  # 3 episodes of 4 steps each


def test_cartpole_positions_hides_the_velocities():
    obs, _, _ = play(FACTORY + "cartpole_positions", lambda obs: jnp.ones(len(obs), jnp.int32))
    full, _, _ = play("CartPole-v1", lambda obs: jnp.ones(len(obs), jnp.int32))
    assert obs.shape[-1] == 2
    np.testing.assert_array_equal(obs, full[..., [0, 2]])  # the same game, seen in part


def test_breakout_without_trail_drops_the_trail_channel_only():
    assert backend.spec("Breakout-MinAtar").obs_shape == (10, 10, 4)  # one frame, not a stack
    obs, _, _ = play(FACTORY + "breakout_without_trail", lambda obs: jnp.ones(len(obs), jnp.int32))
    full, _, _ = play("Breakout-MinAtar", lambda obs: jnp.ones(len(obs), jnp.int32))
    assert full[..., 2].any()  # the trail shows the ball's last cell: one frame gives its direction
    np.testing.assert_array_equal(obs, full[..., [0, 1, 3]])


def test_memory_chain_trains_through_the_gymnax_backend_with_a_longer_memory():
    assert backend.spec("MemoryChain-bsuite").obs_shape == (3,)
    assert memory_chain(30)[1].memory_length == 30
    obs, rewards, ends = play(FACTORY + "memory_chain_10", lambda obs: jnp.zeros(len(obs), jnp.int32))
    assert ends[10].all() and not ends[:10].any()  # memory_length + 1 steps an episode
    assert set(np.unique(rewards[10])) <= {-1.0, 1.0} and not rewards[:10].any()
    np.testing.assert_array_equal(obs[0, :, 2], obs[1, :, 2])  # gymnax shows the context twice


def ppo_success(length: int) -> float:
    """PPO's mean return over its last iterations on the one-bit memory, 2 seeds in one program."""
    options = dict(num_envs=16, rollout_steps=16, num_minibatches=2, update_epochs=4, total_steps=40_960, lr=3e-3)
    train, hyper = make_train("ppo", OneBitMemory(), OneBitParams(length), **options)
    _, metrics = jax.jit(jax.vmap(train, in_axes=(0, None)))(jax.random.split(jax.random.key(0), 2), hyper)
    return float(np.nanmean(metrics["episode_return"][:, -20:]))


@pytest.mark.slow  # two short PPO runs: ~30 s here, most of it compiling
def test_feed_forward_ppo_stays_at_chance_on_the_one_bit_memory():
    """A learner that solves the task when the bit is shown as it is asked (length 1) stays at
    chance when it must remember it for 3 steps: the probe's ceiling is memory, not PPO."""
    assert ppo_success(1) > 0.95
    assert 0.4 < ppo_success(4) < 0.6
