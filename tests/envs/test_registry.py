"""Backends registered from outside the package (tests/envs/toy_backend.py): resolved, trained
and refused like jaxrl's own, with no edit to jaxrl; the info, first and carry channel seen from
a recurrent agent's side."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.core.programs import make_programs
from jaxrl.core.types import Agent
from jaxrl.envs import env_spec, make_env, register, resolve_env_id, unregister, video_refusal
from jaxrl.errors import ConfigError
from tests.envs import toy_backend


@pytest.fixture
def toy():
    register("toy", toy_backend.BACKEND, priority=5)
    register("toy-host", toy_backend.HOST_STEPPED)
    yield toy_backend
    unregister("toy")
    unregister("toy-host")
    unregister("broken")


def test_the_registry_offers_an_id_to_a_registered_backend(toy):
    assert resolve_env_id("Guess-v0") == ("Guess-v0", "toy")
    assert resolve_env_id("CartPole") == ("CartPole-v1", "envpool")  # the others' ids stay theirs
    assert video_refusal("Guess-v0", "toy") == "cannot draw Guess-v0: the toy backend draws nothing"


@pytest.mark.parametrize("backend", [None, "toy-host"])
def test_a_backend_registered_from_outside_trains_ppo_to_the_threshold_and_evaluates(toy, backend, tmp_path):
    """Random play returns LENGTH / 2 = 4 per episode (5.2 after 512 steps); PPO must learn the
    sign within 40 rollouts (7.75 measured), as a JAX env (one program per chunk) and stepped as
    a host env's pool is (its info reaching the state the host-stepped way)."""
    options = {"backend": backend} if backend else {}
    result = jaxrl.train("ppo", env="Guess-v0", total_steps=10_240, logdir=str(tmp_path), name="toy", **options)
    run = result.summary["runs"][0]
    assert result.config.backend == (backend or "toy")
    assert run["final_return"] >= 7.0, run
    scores = jaxrl.evaluate(result.run_dir, episodes=4)  # evaluation asks the same backend
    assert np.mean(scores["members"]["s0"]["returns"]) >= 7.5, scores  # greedy: 8.0 measured
    with pytest.raises(ConfigError, match="^--video: cannot draw Guess-v0: the toy backend draws nothing$"):
        jaxrl.evaluate(result.run_dir, episodes=1, video=True)


REFUSED = [
    ({"env": "Guess-v0", "backend": "toyy"}, "unknown backend 'toyy': choose one of "),
    ({"env": "Gues-v0"}, "unknown env 'Gues-v0'; did you mean 'Guess-v0'?"),
    ({"env": "Broken-v0"}, "Broken-v0: this toy refuses it"),
    ({"env": "Guess-v0", "backend": "broken"}, "env backend 'broken' failed in knows: RuntimeError: no simulator"),
]


@pytest.mark.parametrize("options, message", REFUSED, ids=[message for _, message in REFUSED])
def test_bad_backends_and_ids_fail_in_one_line_before_compiling(toy, options, message, tmp_path):
    register("toy", toy_backend.BACKEND._replace(knows=toy_backend.refusing_knows), priority=5)

    def crash(env_id):
        raise RuntimeError("no simulator\nwith a second line")

    if options.get("backend") == "broken":  # registered last, so only asked where the others do not know an id
        register("broken", toy_backend.BACKEND._replace(knows=crash))
    with pytest.raises(ConfigError) as error:
        jaxrl.train("ppo", logdir=str(tmp_path / "runs"), **options)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
    assert not (tmp_path / "runs").exists()


def test_a_backend_that_raises_is_named_in_one_line(toy):
    register("broken", toy_backend.BACKEND._replace(spec=toy_backend.broken_spec))
    with pytest.raises(ValueError, match="^env backend 'broken' failed in spec: RuntimeError: the simulator"):
        env_spec("Guess-v0", "broken")
    with pytest.raises(TypeError, match="a backend is a jaxrl.envs.Backend, not dict"):
        register("bad", {})


def counting_agent() -> Agent:
    """A recurrent agent whose carry counts the steps since its episode began (reset where
    `first`), and which reports its carry as extras."""

    def act(state, carry, obs, first, info, key):
        carry = jnp.where(first, 0, carry)
        return jnp.zeros(obs.shape[0], jnp.int32), carry + 1, {"carry": carry}

    return Agent(
        init=lambda key, hyper: {},
        act=act,
        learn=lambda state, traj, hyper, key: (state, {}),
        preferences=None,
        initial_carry=lambda num_envs: jnp.full(num_envs, -100, jnp.int32),  # reset before its first use
    )


def test_info_first_and_carry_reach_act_and_the_trajectory_across_rollouts(toy):
    env = make_env("Guess-v0", list(range(6)), "toy")
    programs = make_programs(counting_agent(), env, population=2, rollout_steps=13, networks=())
    state, handle = programs.init(np.zeros(2, np.int32), jnp.zeros(2))
    for rollout in range(2):  # 26 steps: episodes of 8 start inside rollouts and across them
        carry_before = np.asarray(state.carry)
        state, handle, traj, _ = programs.collect(state, handle)
        time = np.asarray(traj.info["time"])  # [T, P, E]
        assert time.shape == (13, 2, 3)
        expected = (np.arange(13) + 13 * rollout) % toy.LENGTH  # every env started together
        np.testing.assert_array_equal(time, np.broadcast_to(expected[:, None, None], time.shape))
        np.testing.assert_array_equal(np.asarray(traj.first), time == 0)
        np.testing.assert_array_equal(np.asarray(traj.extras["carry"]), time)  # the carry counted the episode
        np.testing.assert_array_equal(np.asarray(traj.carry), carry_before)  # the carry at the rollout's start
    assert jax.tree.structure(state.info) == jax.tree.structure({"time": 0})


@pytest.mark.parametrize("backend, same_step_resets", [("envpool", False), ("gymnax", True)])
def test_first_marks_each_episode_start_alike_on_every_backend(backend, same_step_resets):
    """EnvPool's first obs comes from the reset step after a done (valid False); gymnax's from
    the terminating step itself (no reset step; a truncation has one, as EnvPool's)."""
    env = make_env("CartPole-v1", list(range(8)), backend)
    programs = make_programs(counting_agent(), env, population=2, rollout_steps=100, networks=())
    state, handle = programs.init(np.zeros(2, np.int32), jnp.zeros(2))
    try:
        state, handle, traj, _ = programs.collect(state, handle)
    finally:
        env.close()
    first, valid, terminated = (np.asarray(x) for x in (traj.first, traj.valid, traj.terminated))
    expected = ~valid[:-1] | (terminated[:-1] & same_step_resets)
    assert first[0].all() and expected.sum() >= 8  # every env's first obs, and episodes that ended
    np.testing.assert_array_equal(first[1:], expected)
    carry = np.asarray(traj.extras["carry"])  # steps since the episode began, reset where first
    np.testing.assert_array_equal(carry[first], 0)
    np.testing.assert_array_equal(carry[1:][~first[1:]], carry[:-1][~first[1:]] + 1)


@pytest.mark.parametrize("backend", ["envpool", "gymnasium"])
def test_backend_options_reach_the_spec_by_name(backend):
    """`env_spec` passes `instance` and the options by keyword, whatever a backend's signature."""
    assert env_spec("Pong-v5", backend, frame_size=64, noop_max=30).obs_shape == (4, 64, 64)
