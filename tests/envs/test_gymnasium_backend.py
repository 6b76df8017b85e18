"""The gymnasium backend keeps the EnvPool backend's contract inside a jitted scan: reset steps
right after each done, episode stats equal to a plain recount, EnvPool's specs, and, with the
random no-op starts off, Atari frames, rewards and life losses equal to EnvPool's bit for bit;
PPO learns through it; ids EnvPool lacks go to it."""

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.algos import get_algorithm
from jaxrl.config import resolve
from jaxrl.core.episodes import init_stats, update_stats
from jaxrl.envs import ale
from jaxrl.envs import envpool as envpool_backend
from jaxrl.envs import gymnasium as gymnasium_backend
from tests.conftest import train

SEEDS = [11, 12, 13, 14]


def random_actions(num_steps: int, num_envs: int, num_actions: int, seed: int = 0) -> jax.Array:
    return jax.random.randint(jax.random.PRNGKey(seed), (num_steps, num_envs), 0, num_actions, jnp.int32)


def scan_rollout(env, actions):
    """Steps `env` through actions [T, N] in one jitted lax.scan, with the runner's bookkeeping
    (valid = ~prev_done, update_stats). Returns numpy (reset obs, steps [T], valid [T], ended [T])."""
    handle, obs = env.reset()

    def body(carry, action):
        handle, stats, prev_done = carry
        handle, step = env.step(handle, action)
        valid = ~prev_done
        stats, ended = update_stats(stats, step.game_reward, step.game_over, valid)
        return (handle, stats, step.terminated | step.truncated), (step, valid, ended)

    carry = (handle, init_stats(env.num_envs), jnp.zeros(env.num_envs, bool))
    _, (steps, valid, ended) = jax.jit(lambda carry, actions: jax.lax.scan(body, carry, actions))(carry, actions)
    return jax.device_get((obs, steps, valid, ended))


def assert_envpool_reset_rule(steps, valid):
    """The step after a done is a reset step (all zeros and False); no other step is."""
    done = steps.terminated | steps.truncated
    np.testing.assert_array_equal(valid[1:], ~done[:-1])
    reset_step = ~valid
    assert reset_step.any()
    for field in (steps.reward, steps.game_reward):
        assert (field[reset_step] == 0).all()
    for field in (steps.terminated, steps.truncated, steps.game_over):
        assert not field[reset_step].any()


def test_cartpole_stats_in_a_jitted_scan_equal_a_recount_and_a_plain_gymnasium_replay():
    env = gymnasium_backend.make("CartPole-v1", SEEDS)
    reference = envpool_backend.make("CartPole-v1", SEEDS)
    try:
        actions = random_actions(300, len(SEEDS), env.spec.num_actions)
        obs0, steps, valid, ended = scan_rollout(env, actions)
        assert (env.spec.obs_shape, env.spec.obs_dtype) == (reference.spec.obs_shape, reference.spec.obs_dtype)
        assert env.spec.num_actions == reference.spec.num_actions
        assert steps.obs.shape == (300, len(SEEDS), *reference.spec.obs_shape)
        assert steps.obs.dtype == np.dtype(reference.spec.obs_dtype)
        _, again = env.reset()  # a later reset is unseeded: a new start, not the first one again
        assert not np.array_equal(np.asarray(again), obs0)
    finally:
        env.close()
        reference.close()

    assert_envpool_reset_rule(steps, valid)
    # Recount every finished game from the raw per-step rewards, in plain Python.
    expected = []
    for e in range(len(SEEDS)):
        game_return, length = 0.0, 0
        for t in range(300):
            if valid[t, e]:
                game_return, length = game_return + steps.reward[t, e], length + 1
            if steps.game_over[t, e]:
                expected.append((t, e, game_return, length))
                game_return, length = 0.0, 0
    got = [
        (t, e, ended.episode_return[t, e], ended.episode_length[t, e])
        for e, t in zip(*np.nonzero(ended.ended.T), strict=True)
    ]
    assert got == expected
    assert len(expected) >= 3 * len(SEEDS)  # random CartPole ends every ~20 steps: resets are exercised

    # The same actions on plain gymnasium envs: seeds[i] on the first reset, unseeded after, and
    # the action of a reset step never reaches the env.
    for e, seed in enumerate(SEEDS):
        plain = gymnasium.make("CartPole-v1")
        obs, _ = plain.reset(seed=seed)
        np.testing.assert_array_equal(obs0[e], obs)
        for t in range(300):
            if valid[t, e]:
                obs, *_ = plain.step(int(actions[t, e]))
            else:
                obs, _ = plain.reset()
            np.testing.assert_array_equal(steps.obs[t, e], obs)
        plain.close()


def test_cartpole_follows_the_envpool_backends_rules():
    actions = random_actions(200, len(SEEDS), 2, seed=1)
    for backend in (envpool_backend, gymnasium_backend):
        env = backend.make("CartPole-v1", SEEDS)
        try:
            _, steps, valid, _ = scan_rollout(env, actions)
        finally:
            env.close()
        assert_envpool_reset_rule(steps, valid)
        np.testing.assert_array_equal(steps.reward, valid.astype(np.float32))  # +1 per counted step
        np.testing.assert_array_equal(steps.game_reward, steps.reward)
        np.testing.assert_array_equal(steps.game_over, steps.terminated | steps.truncated)


def test_pong_spec_stack_start_and_frames_equal_envpools():
    reference = envpool_backend.make("Pong-v5", [0], noop_max=1)
    env = gymnasium_backend.make("Pong-v5", [0], noop_max=1)  # one raw no-op: no random start
    try:
        assert env.spec == reference.spec  # (4, 84, 84) uint8, 6 actions
        assert env.spec.obs_shape == (4, 84, 84) and env.spec.num_actions == 6
        actions = random_actions(40, 1, 6)
        obs0, steps, _, _ = scan_rollout(env, actions)
        ref_obs0, ref_steps, _, _ = scan_rollout(reference, actions)
    finally:
        env.close()
        reference.close()
    assert obs0.dtype == np.uint8 and (obs0[0] == obs0[0, :1]).all()  # a reset fills the stack
    np.testing.assert_array_equal(obs0, ref_obs0)
    for field, ref_field in zip(steps, ref_steps, strict=True):
        np.testing.assert_array_equal(field, ref_field)
    np.testing.assert_array_equal(steps.obs[1:, :, :-1], steps.obs[:-1, :, 1:])  # one frame shifts in per step

    seeded = gymnasium_backend.make("ALE/Pong-v5", [0, 1])  # the gymnasium id, random no-op starts
    try:
        _, obs = seeded.reset()
        obs = np.asarray(obs)
        assert obs.shape == (2, 4, 84, 84) and (obs == obs[:, :1]).all()
    finally:
        seeded.close()


@pytest.mark.parametrize(
    "env_id",
    [
        "Breakout-v5",  # 5 lives and a game over: the reset step after the last life starts a new game
        "SpaceInvaders-v5",  # rewards of 5 to 25: sign-clipped for training, raw in game_reward
    ],
)
def test_atari_episodic_life_and_reward_clipping_equal_envpools(env_id):
    """Life losses end the agent's episode, not the game; the reset step after one continues the
    game and its frame stack (EnvPool's behaviour, which jaxrl/buffers.py relies on)."""
    rollouts = []
    for backend in (envpool_backend, gymnasium_backend):
        env = backend.make(env_id, [3], noop_max=1)
        try:
            rollouts.append(scan_rollout(env, random_actions(300, 1, env.spec.num_actions)))
        finally:
            env.close()
    (ref_obs0, ref_steps, _, _), (obs0, steps, valid, _) = rollouts
    np.testing.assert_array_equal(obs0, ref_obs0)
    for field, ref_field in zip(steps, ref_steps, strict=True):
        np.testing.assert_array_equal(field, ref_field)

    assert_envpool_reset_rule(steps, valid)
    np.testing.assert_array_equal(steps.reward, np.sign(steps.game_reward))
    assert steps.game_over.any() if env_id == "Breakout-v5" else steps.game_reward.max() > 1
    life_lost = np.flatnonzero(steps.terminated[:-1, 0] & ~steps.game_over[:-1, 0])
    assert life_lost.size >= 2
    after = steps.obs[life_lost + 1, 0]  # the reset steps: one new frame shifted into the stack
    np.testing.assert_array_equal(after[:, :-1], steps.obs[life_lost, 0, 1:])


def test_atari_truncation_ends_the_game_and_the_reset_step_starts_a_new_one(monkeypatch):
    monkeypatch.setattr(ale, "ATARI_MAX_EPISODE_STEPS", 30)  # EnvPool's is 27,000
    env = gymnasium_backend.make("Pong-v5", [5])
    try:
        _, steps, valid, ended = scan_rollout(env, random_actions(40, 1, 6))
    finally:
        env.close()
    assert_envpool_reset_rule(steps, valid)
    np.testing.assert_array_equal(np.flatnonzero(steps.truncated), [29])  # Pong lasts far longer than 30 steps
    assert steps.game_over[29, 0] and not steps.terminated[29, 0]
    assert ended.episode_length[29, 0] == 30
    assert (steps.obs[30, 0] == steps.obs[30, 0, :1]).all()  # a new game: its first frame fills the stack


class TwoKnobs(gymnasium.Env):
    """An env whose actions no jaxrl algorithm takes (MultiDiscrete)."""

    action_space = gymnasium.spaces.MultiDiscrete([2, 3])
    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (2,))


gymnasium.register("jaxrl-test/TwoKnobs-v0", entry_point=TwoKnobs)


@pytest.mark.parametrize(
    ("env_id", "words"),
    [
        ("NoSuchEnv-v0", "unknown gymnasium env"),
        ("jaxrl-test/TwoKnobs-v0", "jaxrl trains on Discrete or 1-D Box action spaces; got MultiDiscrete"),
    ],
)
def test_unusable_ids_raise_a_one_line_value_error(env_id, words):
    with pytest.raises(ValueError, match=words) as error:
        gymnasium_backend.make(env_id, [0])
    assert "\n" not in str(error.value)


def test_box_actions_step_host_envs_as_float_vectors_with_the_spaces_bounds():
    env = gymnasium_backend.make("Pendulum-v1", [3, 4])
    try:
        spec = env.spec
        assert (
            spec.continuous and spec.action_shape == (1,) and (spec.action_low, spec.action_high) == ((-2.0,), (2.0,))
        )
        pushes = jnp.stack([jnp.full((2, 1), 2.0), jnp.full((2, 1), -2.0)] * 3)  # [6, 2, 1]
        _, steps, _, _ = scan_rollout(env, pushes)
        assert steps.obs.shape == (6, 2, 3) and steps.obs.dtype == np.float32
        assert (steps.reward < 0).all()  # Pendulum's cost: every reward negative
    finally:
        env.close()
    twin = gymnasium_backend.make("Pendulum-v1", [3, 4])
    try:
        _, other, _, _ = scan_rollout(twin, -pushes)  # the same starts, the opposite torques
        assert not np.allclose(other.obs, steps.obs)  # the actions reached the envs
    finally:
        twin.close()


@pytest.mark.slow
def test_ppo_learns_gymnasium_cartpole_through_the_same_runner(tmp_path):
    config = resolve(get_algorithm("ppo"), {"env": "CartPole-v1", "backend": "gymnasium", "logdir": str(tmp_path)})
    assert config.backend == "gymnasium" and config.target_return == 475
    summary = train(config)
    assert summary["runs"][0]["steps_to_target"] is not None and summary["runs"][0]["final_return"] >= 475


def test_ids_envpool_lacks_go_to_gymnasium_and_envpool_stays_the_default():
    ppo = get_algorithm("ppo")
    assert resolve(ppo, {"env": "CartPole"}).backend == "envpool"
    assert resolve(ppo, {"env": "MountainCar-v0"}).backend == "envpool"
    assert resolve(ppo, {"env": "CartPole-v0"}).backend == "gymnasium"  # not in EnvPool
    pong = resolve(ppo, {"env": "ALE/Pong-v5"})
    assert pong.backend == "gymnasium" and pong.target_return == 20 and pong.static.num_envs == 8
