"""A population is many independent runs: member k equals the single run with seed k; the same
seed twice gives the same numbers; Atari frames stay uint8 until the network."""

import re

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.core.programs import group_major, make_programs
from jaxrl.core.types import Agent, Env, EnvSpec, Step
from jaxrl.envs.envpool import step_groups
from jaxrl.training.fleet import train_chunk
from tests.conftest import assert_member_is_the_single_run, build_programs

CARTPOLE = dict(env="CartPole", num_envs=4, rollout_steps=32, update_epochs=2)


def test_member_k_of_population_equals_single_run_with_seed_k(run_chunks):
    population_state, population = run_chunks("ppo", seeds=4, seed=0, **CARTPOLE)
    single_state, single = run_chunks("ppo", seeds=1, seed=3, **CARTPOLE)
    for chunk_population, chunk_single in zip(population, single, strict=True):
        assert chunk_population.keys() == chunk_single.keys()
        for key in chunk_single:
            np.testing.assert_allclose(chunk_population[key][:, 3], chunk_single[key][:, 0], rtol=1e-5, atol=1e-6)
    population_params = jax.tree.map(lambda x: x[3], population_state.agent.params)
    single_params = jax.tree.map(lambda x: x[0], single_state.agent.params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), population_params, single_params)


def test_same_seed_is_bitwise_reproducible_and_seeds_differ(run_chunks):
    state_a, metrics_a = run_chunks("ppo", seeds=2, seed=0, **CARTPOLE)
    state_b, metrics_b = run_chunks("ppo", seeds=2, seed=0, **CARTPOLE)
    jax.tree.map(np.testing.assert_array_equal, state_a.agent.params, state_b.agent.params)
    jax.tree.map(np.testing.assert_array_equal, metrics_a, metrics_b)
    kernel = jax.tree.leaves(state_a.agent.params)[-1]
    assert not np.array_equal(kernel[0], kernel[1])  # the two seeds learned different things


def test_pong_smoke_shapes_dtypes_and_uint8_frames():
    programs, state, handle, hyper, env = build_programs(
        "ppo", env="Pong", num_envs=2, rollout_steps=16, num_minibatches=2, update_epochs=1, total_steps=64
    )
    try:
        assert env.spec.obs_shape == (4, 84, 84) and env.spec.obs_dtype == "uint8" and env.spec.num_actions == 6
        assert state.obs.shape == (1, 2, 4, 84, 84) and state.obs.dtype == np.uint8
        state, handle, traj, ended = programs.collect(state, handle)
        assert traj.obs.shape == (16, 1, 2, 4, 84, 84) and traj.obs.dtype == np.uint8
        assert traj.action.shape == (16, 1, 2) and traj.reward.dtype == np.float32 and traj.valid.dtype == bool
        # frames become float only a minibatch (16 of the 32 samples) at a time, inside the network
        program = str(jax.make_jaxpr(programs.update)(state, traj, ended, hyper))
        float_frames = re.findall(r"f32\[([\d,]*),(?:4,84,84|84,84,4)\]", program)
        assert float_frames and max(np.prod([int(d) for d in dims.split(",")]) for dims in float_frames) <= 16
        state, handle, metrics = train_chunk(programs, state, handle, hyper, num_iterations=2)
        metrics = jax.device_get(metrics)
        assert metrics["env_steps"][-1, 0] == 2 * 16 * 2  # counted by update; the lone collect above is not
        for key in ("policy_loss", "value_loss", "entropy", "approx_kl"):
            assert metrics[key].shape == (2, 1) and np.all(np.isfinite(metrics[key])), key
        assert state.obs.dtype == np.uint8
    finally:
        env.close()


def test_box_actions_reach_the_env_clipped_and_the_trajectory_keeps_them_as_sampled():
    """A fake pool whose observation is the action it was given: what the env saw is visible."""
    spec = EnvSpec("Echo", (2,), "float32", 2, 1, (2,), (-1.0, 0.0), (1.0, 0.5))
    zeros, false = jnp.zeros(3, jnp.float32), jnp.zeros(3, bool)
    env = Env(
        spec, 3, reset=lambda: (jnp.zeros(()), jnp.zeros((3, 2))), step=lambda h, a: (h, Step(a, zeros, false, false, zeros, false)), close=lambda: None
    )  # fmt: skip
    agent = Agent(
        init=lambda key, hyper: {},
        act=lambda state, obs, key: (3.0 * jax.random.normal(key, (obs.shape[0], 2)), {}),
        learn=lambda state, traj, hyper, key: (state, {}),
        preferences=None,
    )
    programs = make_programs(agent, env, population=1, rollout_steps=20, networks=())
    state, handle = programs.init(np.zeros(1, np.int32), jnp.zeros(1))
    state, handle, traj, _ = programs.collect(state, handle)
    sampled = np.asarray(traj.action)[:, 0]  # [T, E, 2]
    seen = np.concatenate([np.asarray(traj.obs)[1:, 0], np.asarray(traj.last_obs)[0][None]])  # what each step got
    assert (sampled[..., 0] > 1).any() and (sampled[..., 1] < 0).any()  # the agent sampled outside the box
    np.testing.assert_array_equal(seen, np.clip(sampled, [-1.0, 0.0], [1.0, 0.5]))


def test_the_minatar_cnn_is_a_valid_3x3_convolution_of_16_channels_then_128_units():
    """Its patch matmul computes what lax's convolution computes, with the same kernel."""
    from jaxrl.core.networks import MinAtarCNN

    obs = jax.random.bernoulli(jax.random.PRNGKey(0), 0.3, (2, 10, 10, 4)).astype(np.float32)
    params = MinAtarCNN().init(jax.random.PRNGKey(1), obs)
    conv = params["params"]
    assert conv["kernel"].shape == (3, 3, 4, 16) and conv["Dense_0"]["kernel"].shape == (8 * 8 * 16, 128)
    reference = jax.lax.conv_general_dilated(
        obs, conv["kernel"], (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    features = jax.nn.relu(reference + conv["bias"]).reshape(2, -1)
    expected = jax.nn.relu(features @ conv["Dense_0"]["kernel"] + conv["Dense_0"]["bias"])
    np.testing.assert_allclose(MinAtarCNN().apply(params, obs), expected, rtol=1e-5, atol=1e-5)


def counting_env(population: int, num_envs: int, groups: int) -> Env:
    """A fake EnvPool of P*E envs as `groups` pipelined pools (group-major, like EnvPool's): an
    env's observation is its id x 1000 plus the steps it took, its reward the action it was sent."""
    size = population * num_envs // groups
    ids = group_major([[p * num_envs + j for j in range(num_envs)] for p in range(population)], groups)
    spec = EnvSpec("Counter", (1,), "float32", 2)
    false = jnp.zeros(size, bool)

    def send(handles, group, action):  # a pool's handle: [2, size], its counters and the actions sent
        return handles[:group] + (handles[group].at[1].set(action.astype(jnp.float32)),) + handles[group + 1 :]

    def recv(handles, group):
        counter, sent = handles[group]
        step = Step((counter + 1)[:, None], sent, false, false, sent, false)
        return handles[:group] + (jnp.stack([counter + 1, sent]),) + handles[group + 1 :], step

    def reset():
        obs = 1000.0 * jnp.asarray(ids, jnp.float32)
        handles = tuple(jnp.stack([part, jnp.zeros(size)]) for part in jnp.split(obs, groups))
        return handles, obs[:, None]

    def step(handles, action):
        return step_groups(send, recv, groups, handles, action)

    pipelined = dict(groups=groups, send=send, recv=recv) if groups > 1 else {}
    return Env(spec, population * num_envs, reset=reset, step=step, close=lambda: None, **pipelined)


def test_pipelined_pools_give_the_synchronous_rollout_each_env_in_its_members_place():
    """Two members of 4 envs, stepped as one pool and as 2 pipelined pools: the same trajectory
    (each action taken on the observation before it, rewarded in its own step), envs in order;
    each env's carry (here a count of its steps, from 100 x its index) moves on in its place."""

    def act(state, carry, obs, first, info, key):
        return (obs[:, 0] % 7).astype(jnp.int32), carry + 1, {"seen": obs[:, 0], "carry": carry}

    agent = Agent(
        init=lambda key, hyper: {},
        act=act,
        learn=lambda state, traj, hyper, key: (state, {}),
        preferences=None,
        initial_carry=lambda num_envs: 100 * jnp.arange(num_envs),
    )
    trajectories = []
    for groups in (1, 2):
        programs = make_programs(agent, counting_env(2, 4, groups), population=2, rollout_steps=5, networks=())
        state, handle = programs.init(np.zeros(2, np.int32), jnp.zeros(2))
        for _ in range(2):  # the second rollout starts where the first ended
            state, handle, traj, _ = programs.collect(state, handle)
        trajectories.append(jax.device_get(traj))
    synchronous, pipelined = trajectories
    jax.tree.map(np.testing.assert_array_equal, synchronous, pipelined)
    obs = np.asarray(pipelined.obs)[..., 0]  # [T, P, E]
    np.testing.assert_array_equal(obs[0], 1000 * np.arange(8).reshape(2, 4) + 5)
    np.testing.assert_array_equal(np.diff(obs, axis=0), 1)
    np.testing.assert_array_equal(pipelined.action, obs % 7)
    np.testing.assert_array_equal(pipelined.reward, pipelined.action)
    np.testing.assert_array_equal(pipelined.last_obs[..., 0], obs[-1] + 1)
    np.testing.assert_array_equal(pipelined.extras["carry"], obs % 1000 + 100 * np.arange(4))
    np.testing.assert_array_equal(pipelined.carry, np.broadcast_to(100 * np.arange(4) + 5, (2, 4)))


def test_with_pipelined_pools_member_k_still_equals_the_single_run_with_seed_k(run_chunks):
    options = dict(CARTPOLE, env_groups=2)
    _, population = run_chunks("ppo", seeds=3, seed=0, **options)
    _, single = run_chunks("ppo", seeds=1, seed=2, **options)
    assert_member_is_the_single_run(population, single, member=2)
    assert population[-1]["episodes_ended"].sum() > 0
