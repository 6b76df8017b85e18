"""The gymnax backend: which ids go to it, EnvPool's rules where learning needs them (the final
obs of a truncated episode, then a reset step; a terminated one resets at once), one-line
refusals of envs jaxrl cannot train on, and pictures of image observations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.core.episodes import init_stats, update_stats
from jaxrl.envs import UnknownEnvError, make_env, pictures, resolve_env_id, resolve_env_object, video_refusal
from tests.envs import probes


@pytest.mark.parametrize(
    "name, backend, expected",
    [
        ("Breakout-MinAtar", None, ("Breakout-MinAtar", "gymnax")),  # only gymnax has it
        ("CartPole", None, ("CartPole-v1", "envpool")),  # EnvPool stays the default where it has the id
        ("CartPole", "gymnax", ("CartPole-v1", "gymnax")),
        ("Acrobot-v1", "gymnax", ("Acrobot-v1", "gymnax")),
        ("Pendulum-v1", "gymnax", ("Pendulum-v1", "gymnax")),  # Box actions
        ("tests.envs.probes:make_bandit", None, ("tests.envs.probes:make_bandit", "gymnax")),
    ],
)
def test_ids_go_to_the_backend_that_has_them(name, backend, expected):
    assert resolve_env_id(name, backend) == expected


REFUSED = [
    (
        lambda: resolve_env_id("Breakout", "gymnax"),
        "unknown env 'Breakout' in gymnax; did you mean 'Breakout-MinAtar'?",
    ),
    (lambda: resolve_env_id("Breakout-Minatar"), "unknown env 'Breakout-Minatar'; did you mean 'Breakout-MinAtar'?"),
    (lambda: resolve_env_id("tests.envs.probes:make_continuous"), "acts in a Box[1]; jaxrl trains on Discrete(n)"),
    (lambda: resolve_env_id("tests.envs.probes:missing"), "tests.envs.probes has no function missing"),
    (lambda: resolve_env_id("tests.envs.prbes:make_bandit"), "cannot import tests.envs.prbes"),
    (lambda: resolve_env_id("tests.envs.probes:make_nothing"), "must return (env, env_params), not Bandit"),
    (lambda: resolve_env_object(probes.Dict(), probes.Params()), "Dict observes a dict[]"),
    (
        lambda: resolve_env_object(probes.OldApi(), probes.Params()),
        "step returns 5 values; jaxrl needs gymnax 1.0's six",
    ),
    (lambda: resolve_env_object(object(), None), "object: the env has no reset()"),
]


@pytest.mark.parametrize("call, message", REFUSED, ids=[message for _, message in REFUSED])
def test_envs_jaxrl_cannot_train_on_are_refused_in_one_line(call, message):
    with pytest.raises(UnknownEnvError) as error:
        call()
    assert message in str(error.value) and "\n" not in str(error.value)


def rollout(env, actions):
    """Steps `env` through actions [T, N] (or a policy: obs -> actions) in a jitted scan with the
    runner's bookkeeping: valid = not a reset step. Returns numpy (steps [T], valid [T], ended [T])."""
    handle, obs = env.reset()

    def body(carry, t):
        handle, obs, stats, reset_next = carry
        action = actions(obs) if callable(actions) else actions[t]
        handle, step = env.step(handle, action)
        valid = ~reset_next
        stats, ended = update_stats(stats, step.game_reward, step.game_over, valid)
        return (handle, step.obs, stats, step.reset_next), (step, valid, ended)

    carry = (handle, obs, init_stats(env.num_envs), jnp.zeros(env.num_envs, bool))
    steps = actions.shape[0] if not callable(actions) else 20
    _, out = jax.jit(lambda carry: jax.lax.scan(body, carry, jnp.arange(steps)))(carry)
    return jax.device_get(out)


def test_a_truncated_episode_shows_its_final_obs_then_a_reset_step():
    env = make_env("tests.envs.probes:make_bandit", [3, 4], "gymnax")  # horizon 8, always right
    steps, valid, ended = rollout(env, lambda obs: jnp.argmax(obs, axis=-1).astype(jnp.int32))
    truncated = np.flatnonzero(steps.truncated[:, 0])
    assert list(truncated) == [7, 16]  # 8 steps, a reset step, 8 steps
    assert not steps.terminated.any() and list(np.flatnonzero(~valid[:, 0])) == [8, 17]
    assert steps.reward[8, 0] == 0 and not steps.game_over[8].any() and steps.reset_next[7].all()
    # the step after the reset step acts on the new episode's first obs, which the reset step returned
    assert ended.episode_return[7, 0] == 8 and ended.episode_length[7, 0] == 8 and ended.ended.sum() == 4


def test_a_terminated_episode_resets_in_the_same_step_without_a_reset_step():
    env = make_env("tests.envs.probes:make_bandit", [3], "gymnax")
    steps, valid, ended = rollout(env, lambda obs: jnp.argmin(obs, axis=-1).astype(jnp.int32))  # always wrong
    assert steps.terminated.all() and valid.all() and not steps.truncated.any()
    assert (ended.episode_length == 1).all() and (ended.episode_return == 0).all()


def test_without_a_final_observation_a_truncation_ends_like_a_termination():
    env = make_env("NoFinal", [3], "gymnax", instance=(probes.NoFinalObservation(), probes.Params()))
    steps, valid, _ = rollout(env, lambda obs: jnp.argmax(obs, axis=-1).astype(jnp.int32))
    assert list(np.flatnonzero(steps.terminated[:, 0])) == [7, 15] and not steps.truncated.any() and valid.all()


def test_envs_of_a_pool_are_seeded_apart_and_the_same_seed_repeats():
    env = make_env("Breakout-MinAtar", [0, 1, 0], "gymnax")
    actions = jax.random.randint(jax.random.PRNGKey(0), (64, 3), 0, env.spec.num_actions)
    actions = actions.at[:, 2].set(actions[:, 0])
    steps, _, _ = rollout(env, actions)
    np.testing.assert_array_equal(steps.obs[:, 0], steps.obs[:, 2])
    assert not np.array_equal(steps.obs[:, 0], steps.obs[:, 1])
    assert env.spec.obs_shape == (10, 10, 4) and env.spec.num_actions == 3 and env.jax_native


def test_pictures_colour_each_cell_by_its_last_channel_on():
    obs = np.zeros((2, 3, 4), np.float32)
    obs[0, 0, 1] = obs[0, 0, 3] = obs[1, 2, 0] = 1
    frame = pictures.picture(obs, scale=2)
    assert frame.shape == (4, 6, 3) and frame.dtype == np.uint8
    np.testing.assert_array_equal(frame[0, 0], pictures.PALETTE[3])
    np.testing.assert_array_equal(frame[3, 5], pictures.PALETTE[0])
    assert not frame[0, 3].any()  # no channel on: black


def test_videos_are_drawn_by_gymnasium_or_from_images_else_refused():
    assert video_refusal("CartPole-v1", "gymnax") is None  # gymnasium draws its twin
    assert video_refusal("Breakout-MinAtar", "gymnax") is None
    assert video_refusal("Bandit", "gymnax", (probes.Bandit(), probes.Params())) == (
        "cannot draw Bandit: gymnasium has no such env and its observations are not images"
    )


@pytest.mark.parametrize("game, channels", [("Breakout", 4), ("Seaquest", 10), ("SpaceInvaders", 6)])
def test_minatar_images_get_the_minatar_cnn(game, channels):
    from jaxrl.core.networks import MinAtarCNN, NatureCNN, make_torso

    spec = make_env(f"{game}-MinAtar", [0], "gymnax").spec
    assert spec.obs_shape == (10, 10, channels) and isinstance(make_torso(spec.obs_shape, ()), MinAtarCNN)
    assert isinstance(make_torso((4, 84, 84), ()), NatureCNN)
