"""Runs on JAX envs: a chunk is one program that computes what its iterations compute one by
one; member k of a population is the single run with seed k; a resumed run is bit-identical to
an uninterrupted one (the checkpoint holds the envs); env objects from Python train, and their
runs resume and evaluate when given the object again; videos of MinAtar games; a run and its
greedy games lower their own programs only."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from jax import monitoring

import jaxrl
from jaxrl.algos import get_algorithm
from jaxrl.cli import main
from jaxrl.config import resolve
from jaxrl.errors import ConfigError
from tests.conftest import build_programs, train
from tests.envs import probes
from tests.training.test_checkpoints import jax_leaves, saved_arrays

CARTPOLE = dict(env="CartPole", backend="gymnax", num_envs=4, rollout_steps=32, update_epochs=2)


def close(a, b):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6), a, b)


@pytest.mark.slow
def test_a_fused_chunk_computes_what_its_iterations_compute_one_by_one():
    programs, state, handle, hyper, env = build_programs("ppo", seeds=2, **CARTPOLE)
    copy = jax.tree.map(np.copy, jax.device_get((state, handle)))
    fused_state, _, [metrics] = programs.dispatch(state, handle, hyper, 3)
    state, handle = copy
    for iteration in range(3):
        state, handle, traj, ended = programs.collect(state, handle)
        state, step_metrics = programs.update(state, traj, ended, hyper)
        close(jax.tree.map(lambda x: x[iteration], metrics), step_metrics)  # noqa: B023
    close(fused_state.agent.params, state.agent.params)
    assert metrics["env_steps"].shape == (3, 2)


@pytest.mark.slow
def test_member_k_of_a_population_equals_the_single_run_with_seed_k(run_chunks):
    population_state, population = run_chunks("ppo", seeds=3, seed=0, **CARTPOLE)
    single_state, single = run_chunks("ppo", seeds=1, seed=2, **CARTPOLE)
    for chunk_population, chunk_single in zip(population, single, strict=True):
        close({k: v[:, 2] for k, v in chunk_population.items()}, {k: v[:, 0] for k, v in chunk_single.items()})
    close(
        jax.tree.map(lambda x: x[2], population_state.agent.params),
        jax.tree.map(lambda x: x[0], single_state.agent.params),
    )


def config_of(tmp_path, algo, name, **options):
    return resolve(get_algorithm(algo), {"logdir": str(tmp_path), "name": name, "target_return": 1000.0, **options})


RUNS = {
    "ppo": dict(CARTPOLE, total_steps=5120, log_every=512),
    # the replay and the envs' states come back together: no transition is lost (on a factory's
    # env whose episodes truncate every 8 steps, reset steps included)
    "dqn": dict(env="tests.envs.probes:make_bandit", total_steps=4096, learning_starts=512, buffer_size=2048),
    # the carry comes back too: the rollout after the resume starts from the one acted on before
    "ppo-gru": dict(CARTPOLE, total_steps=5120, log_every=512, recurrent="gru", recurrent_size=16, num_minibatches=2),
}


@pytest.fixture(autouse=True)
def compilation_cache():
    """The three runs of a test compile the same fused program: the persistent cache serves it."""
    from jaxrl.api import enable_compilation_cache

    enable_compilation_cache()


@pytest.mark.slow
@pytest.mark.parametrize("algo", list(RUNS))
def test_a_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path, algo):
    options, algo = RUNS[algo], algo.split("-")[0]
    whole = train(config_of(tmp_path, algo, "whole", **options))
    config = config_of(tmp_path, algo, "stopped", **options)
    stopped = train(config, should_stop=lambda env_steps: env_steps >= 2048)
    assert stopped["interrupted_by"] == "request"
    resumed = train(config, resume=stopped["run_dir"])
    assert resumed["runs"][0]["final_return"] == whole["runs"][0]["final_return"]
    final = [saved_arrays(Path(run["run_dir"])) for run in (whole, resumed)]
    assert set(final[0]) == set(final[1]) >= {"agent", "obs", "episodes", "env"}
    assert bool(jax.tree.leaves(final[0]["carry"])) == ("recurrent" in options)  # a feed-forward carry is empty
    for x, y in zip(*map(jax_leaves, final), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_an_env_object_trains_and_its_run_resumes_and_evaluates_with_the_object_again(tmp_path, capsys):
    env, params = probes.Bandit(), probes.Params(horizon=8)
    options = dict(env=env, env_params=params, logdir=str(tmp_path), num_envs=8, rollout_steps=32, log_every=1024)
    result = jaxrl.train("ppo", total_steps=2048, **options)
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["env"] == "Bandit" and config["env_object"] == "tests.envs.probes:Bandit"
    assert config["backend"] == "gymnax" and "env_instance" not in config

    assert main(["train", "--resume", str(result.run_dir)]) == 2  # config.json cannot rebuild an object
    assert "the run trained on a Python env object (tests.envs.probes:Bandit)" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="trained on a Bandit, not a NoFinalObservation"):
        jaxrl.evaluate(result.run_dir, env=probes.NoFinalObservation(), env_params=params)

    scores = jaxrl.evaluate(result.run_dir, episodes=4, env=env, env_params=params)
    assert len(scores["members"]["s0"]["returns"]) == 4
    policy = jaxrl.load(result.run_dir, env=env, env_params=params)
    assert policy(np.eye(2, dtype=np.float32)).tolist() in ([0, 1], [1, 0], [0, 0], [1, 1])


@pytest.mark.slow
def test_ppo_solves_the_bandit_probe_from_a_factory_id(tmp_path):
    options = dict(env="tests.envs.probes:make_bandit", num_envs=8, rollout_steps=32, total_steps=16384)
    summary = train(config_of(tmp_path, "ppo", "probe", **options, target_return=7.9))
    assert summary["runs"][0]["steps_to_target"] is not None and summary["runs"][0]["steps_to_target"] <= 16384


@pytest.mark.slow
def test_a_minatar_game_is_filmed_from_its_channels(tmp_path):
    config = config_of(
        tmp_path, "ppo", "video", env="Breakout-MinAtar", num_envs=4, rollout_steps=16, total_steps=128, log_every=64,
        capture_video=128,
    )  # fmt: skip
    run_dir = Path(train(config)["run_dir"])
    [video] = (run_dir / "videos").iterdir()
    assert video.suffix == ".mp4" and video.stat().st_size > 0


@pytest.mark.slow
def test_a_run_and_its_greedy_games_lower_their_own_programs_and_nothing_else(tmp_path):
    """No small op runs eagerly beside the programs: each would be an XLA program of its own to
    compile in a cold process (BENCHMARKS "Compile seconds of a cold gymnax CartPole run")."""
    lowered = []

    def heard(event: str, seconds: float, fun_name: str = "", **_) -> None:
        if event == "/jax/core/compile/jaxpr_to_mlir_module_duration":
            lowered.append(fun_name)

    monitoring.register_event_duration_secs_listener(heard)
    try:
        options = dict(CARTPOLE, seeds=2, total_steps=1024, log_every=512, logdir=str(tmp_path), loggers=[])
        result = jaxrl.train("ppo", target_return=1000.0, **options)
        jaxrl.evaluate(result.run_dir, episodes=2)
    finally:
        monitoring.unregister_event_duration_listener(heard)
    assert sorted(lowered) == ["jit(iterations)", "jit(opening)", "jit(reset_and_init)", "jit(steps)"]
