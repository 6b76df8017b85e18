"""Replay: what is added comes back intact, the ring wraps, reset steps are never sampled, Atari
frame stacks rebuilt from single frames equal EnvPool's, and 1M Pong transitions fit in ~7 GB."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.algos import dqn, get_algorithm
from jaxrl.core import buffers
from jaxrl.envs import EnvSpec, env_seeds, make_env

add = jax.jit(buffers.add)
sample = jax.jit(buffers.sample, static_argnums=2)
observation = jax.jit(buffers.observation)


def synthetic_stream(num_steps: int, num_envs: int, seed: int):
    """A scripted vector-obs stream as the runner sees it: obs [t, e] = (t, e, t * 10 + e), episodes of
    random length, and `valid` False on the step after each end (EnvPool's reset step)."""
    rng = np.random.default_rng(seed)
    time, env = np.meshgrid(np.arange(num_steps + 1), np.arange(num_envs), indexing="ij")
    obs = np.stack([time, env, time * 10 + env], axis=-1).astype(np.float32)  # [T + 1, E, 3]
    action = rng.integers(0, 4, (num_steps, num_envs)).astype(np.int32)
    reward = rng.normal(size=(num_steps, num_envs)).astype(np.float32)
    ends = rng.random((num_steps, num_envs)) < 0.15
    valid = np.ones((num_steps, num_envs), bool)
    for t in range(1, num_steps):
        valid[t] = ~(ends[t - 1] & valid[t - 1])  # a reset step ends nothing
    terminated = ends & valid & (rng.random((num_steps, num_envs)) < 0.5)
    return obs, action, reward, terminated, valid


def add_in_rollouts(replay, stream, rollout_steps: int):
    obs, action, reward, terminated, valid = stream
    for start in range(0, valid.shape[0], rollout_steps):
        end = start + rollout_steps
        replay = add(replay, obs[start:end], action[start:end], reward[start:end], terminated[start:end],
                     valid[start:end], obs[end])  # fmt: skip
        yield replay, end


def check_batch_against_stream(batch, stream, first: int, last: int):
    obs, action, reward, terminated, valid = stream
    batch = jax.device_get(batch)
    assert batch.mask.all()
    time, env = batch.time, batch.env
    assert (time >= first).all() and (time <= last).all()
    assert valid[time, env].all(), "sampled EnvPool's reset step"
    np.testing.assert_array_equal(batch.obs, obs[time, env])
    np.testing.assert_array_equal(batch.next_obs, obs[time + 1, env])
    np.testing.assert_array_equal(batch.action, action[time, env])
    np.testing.assert_array_equal(batch.reward, reward[time, env])
    np.testing.assert_array_equal(batch.terminated, terminated[time, env])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_added_transitions_sample_back_intact_and_never_as_reset_steps(seed):
    stream = synthetic_stream(num_steps=96, num_envs=3, seed=seed)
    empty = buffers.init(capacity=200, num_envs=3, obs_shape=(3,), obs_dtype=jnp.float32)
    for i, (replay, added) in enumerate(add_in_rollouts(empty, stream, rollout_steps=8)):
        batch = sample(replay, jax.random.PRNGKey(seed * 1000 + i), 256)
        check_batch_against_stream(batch, stream, first=0, last=added - 1)
    # every real transition can be drawn: 96 steps x 3 envs, drawn 20000 times
    batch = jax.device_get(sample(replay, jax.random.PRNGKey(seed), 20_000))
    drawn = set(zip(batch.time.tolist(), batch.env.tolist(), strict=True))
    assert drawn == {(t, e) for t, e in zip(*np.nonzero(stream[4]), strict=True)}


def test_ring_wraps_and_only_the_newest_steps_are_sampled():
    stream = synthetic_stream(num_steps=200, num_envs=2, seed=3)
    capacity = 37  # not a multiple of the rollout length: writes straddle the end of the ring
    empty = buffers.init(capacity=capacity, num_envs=2, obs_shape=(3,), obs_dtype=jnp.float32)
    for i, (replay, added) in enumerate(add_in_rollouts(empty, stream, rollout_steps=8)):
        # the pending last obs takes one slot: the newest capacity - 1 steps are in the ring
        first = max(0, added - capacity + 1)
        assert int(replay.count) == added
        assert jax.device_get(buffers.sampleable_range(replay)) == (first, added - 1)
        batch = sample(replay, jax.random.PRNGKey(i), 2048)
        check_batch_against_stream(batch, stream, first, added - 1)
        real_steps = first + np.flatnonzero(stream[4][first:added].any(axis=1))
        np.testing.assert_array_equal(np.unique(batch.time), real_steps)  # the whole window, nothing older
    ring_time = added - (added - np.arange(capacity)) % capacity  # the step each slot holds
    np.testing.assert_array_equal(np.asarray(replay.obs), stream[0][ring_time])


def test_sample_masks_a_draw_only_when_every_try_fails():
    stream = synthetic_stream(num_steps=16, num_envs=1, seed=0)
    obs, action, reward, terminated, _ = stream
    valid = np.zeros((16, 1), bool)
    valid[5] = True  # one real transition among 15 reset steps
    replay = buffers.init(capacity=40, num_envs=1, obs_shape=(3,), obs_dtype=jnp.float32)
    replay = add(replay, obs[:16], action, reward, terminated, valid, obs[16])
    batch = jax.device_get(sample(replay, jax.random.PRNGKey(0), 4096))
    assert 0 < batch.mask.mean() < 1  # 1 - (15/16)^16 = 64% of the draws find it in 16 tries
    assert (batch.time[batch.mask] == 5).all()
    np.testing.assert_array_equal(batch.next_obs[batch.mask], np.broadcast_to(obs[6, 0], (batch.mask.sum(), 3)))


def test_drop_pending_unmarks_each_envs_last_step_and_nothing_else():
    stream = synthetic_stream(num_steps=40, num_envs=3, seed=4)
    empty = buffers.init(capacity=16, num_envs=3, obs_shape=(3,), obs_dtype=jnp.float32)
    *_, (replay, added) = add_in_rollouts(empty, stream, rollout_steps=8)
    resumed = buffers.drop_pending(replay)
    last = (added - 1) % 16
    expected = np.asarray(replay.valid).copy()
    expected[last] = False  # its next obs was pending when the envs restarted
    np.testing.assert_array_equal(np.asarray(resumed.valid), expected)
    assert np.asarray(replay.valid)[last].any()  # there was something to drop
    batch = jax.device_get(sample(resumed, jax.random.PRNGKey(0), 4096))
    assert (batch.time[batch.mask] < added - 1).all()


def record_atari(env_id: str, num_envs: int, num_steps: int, seed: int, **options):
    """A real EnvPool run with random actions, as the runner steps it: (obs [T + 1, E, 4, H, W],
    action, reward, terminated, valid) with valid False on the step after each done."""
    env = make_env(env_id, env_seeds(seed, num_envs), **options)
    try:
        step = jax.jit(env.step)
        handle, first_obs = env.reset()
        rng = np.random.default_rng(seed)
        observations, actions, rewards, terminateds, valids = [np.asarray(first_obs)], [], [], [], []
        prev_done = np.zeros(num_envs, bool)
        for _ in range(num_steps):
            action = rng.integers(0, env.spec.num_actions, num_envs).astype(np.int32)
            handle, out = step(handle, jnp.asarray(action))
            out = jax.device_get(out)
            observations.append(out.obs)
            actions.append(action)
            rewards.append(out.reward)
            terminateds.append(out.terminated)
            valids.append(~prev_done)
            prev_done = out.terminated | out.truncated
    finally:
        env.close()
    return tuple(np.stack(x) for x in (observations, actions, rewards, terminateds, valids))


def check_rebuilt_stacks(stream, capacity: int, rollout_steps: int):
    """Adds the stream rollout by rollout; after each, every observation still in the ring (the
    pending last one included) is rebuilt and must equal EnvPool's, and so must a sample."""
    obs, valid = stream[0], stream[4]
    num_envs = valid.shape[1]
    empty = buffers.init(capacity, num_envs, obs.shape[2:], jnp.uint8, stack=4)
    assert empty.obs.shape == (capacity, num_envs, 84, 84)  # one frame per step
    for i, (replay, _) in enumerate(add_in_rollouts(empty, stream, rollout_steps)):
        first, last = (int(x) for x in buffers.sampleable_range(replay))
        times = np.repeat(np.arange(first, last + 2), num_envs)
        envs = np.tile(np.arange(num_envs), last + 2 - first)
        rebuilt = np.asarray(observation(replay, jnp.asarray(times), jnp.asarray(envs)))
        np.testing.assert_array_equal(rebuilt, obs[times, envs])
        check_batch_against_stream(sample(replay, jax.random.PRNGKey(i), 512), stream, first, last)


@pytest.mark.parametrize("episodic_life", [True, False])
def test_rebuilt_breakout_stacks_equal_envpool_stacks_across_episodes_and_ring_wraps(episodic_life):
    # Breakout with random actions loses a life every ~25 steps and the game every ~120: 400 steps
    # hold life losses (EnvPool's stack runs on), game overs (it restarts) and several ring wraps.
    stream = record_atari("Breakout-v5", 3, 400, seed=0, episodic_life=episodic_life)
    obs, valid = stream[0], stream[4]
    reset_step, env = np.nonzero(~valid)
    first_obs = obs[reset_step + 1, env]  # the first observation after each episode end
    restarted = np.all(first_obs[:, :-1] == first_obs[:, -1:], axis=(1, 2, 3))
    assert restarted.sum() >= 2  # game overs: EnvPool repeats the first frame
    assert (~restarted).sum() >= (6 if episodic_life else 0)  # lost lives: EnvPool's stack runs on
    check_rebuilt_stacks(stream, capacity=61, rollout_steps=16)


def test_rebuilt_pong_stacks_equal_envpool_stacks():
    check_rebuilt_stacks(record_atari("Pong-v5", 2, 128, seed=1), capacity=45, rollout_steps=32)


PONG = EnvSpec("Pong-v5", (4, 84, 84), "uint8", 6, frame_stack=4)


def test_million_transition_pong_replay_fits_in_105_percent_of_its_frames():
    algorithm = get_algorithm("dqn")
    static = algorithm.Static(buffer_size=1_000_000, num_envs=8, rollout_steps=16, train_every=4)
    agent = algorithm.build(static, PONG, num_iterations=10)
    # the agent's whole state, abstractly: nothing is allocated
    state = jax.eval_shape(agent.init, jax.random.PRNGKey(0), algorithm.Hyper())
    replay_bytes = buffers.nbytes(state.replay)
    assert replay_bytes <= 1.05 * 1_000_000 * 84 * 84, replay_bytes
    assert state.replay.obs.shape == (125_001, 8, 84, 84) and state.replay.obs.dtype == jnp.uint8
    assert dqn.replay_bytes(static, PONG) == replay_bytes
    assert buffers.nbytes(state) - replay_bytes < 50e6  # networks and Adam moments are small beside it


def test_byte_estimate_equals_allocated_bytes():
    replay = buffers.init(50, 4, (4, 84, 84), jnp.uint8, stack=4)
    allocated = sum(leaf.nbytes for leaf in jax.tree.leaves(replay))
    assert buffers.estimate_bytes(50, 4, (4, 84, 84), jnp.uint8, stack=4) == allocated
    vector = buffers.init(50, 4, (4,), jnp.float32)
    assert buffers.estimate_bytes(50, 4, (4,), jnp.float32) == sum(leaf.nbytes for leaf in jax.tree.leaves(vector))


def test_box_actions_are_stored_as_float_vectors_and_sample_back_intact():
    obs, _, reward, terminated, valid = synthetic_stream(num_steps=48, num_envs=2, seed=5)
    action = np.random.default_rng(5).uniform(-1, 1, (48, 2, 3)).astype(np.float32)
    empty = buffers.init(capacity=100, num_envs=2, obs_shape=(3,), obs_dtype=jnp.float32, action_shape=(3,))
    assert empty.action.shape == (100, 2, 3) and empty.action.dtype == jnp.float32
    *_, (replay, added) = add_in_rollouts(empty, (obs, action, reward, terminated, valid), rollout_steps=8)
    batch = sample(replay, jax.random.PRNGKey(0), 512)
    check_batch_against_stream(batch, (obs, action, reward, terminated, valid), first=0, last=added - 1)
    allocated = sum(leaf.nbytes for leaf in jax.tree.leaves(empty))
    assert buffers.estimate_bytes(100, 2, (3,), jnp.float32, action_shape=(3,)) == allocated
