"""The asynchronous actor-learner: the deterministic lag makes a run's losses independent of the
threads' timing, members of a population train as single runs do, it learns CartPole within a
CI-sized budget, and a run it cannot do is refused in one line before anything is built."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxrl.algos import get_algorithm
from jaxrl.config import resolve
from jaxrl.errors import ConfigError
from jaxrl.training.actor_learner import ActorLearner, runner_for
from jaxrl.training.fleet import Fleet
from jaxrl.training.population import seed_population
from tests.conftest import assert_member_is_the_single_run, train

LOSSES = ("policy_loss", "value_loss", "entropy", "importance_ratio")


def losses(options: dict, updates: int, delay=None, chunks: int = 1) -> list[dict]:
    """The metrics of `updates` learner updates in `chunks` chunks, from a fresh actor-learner."""
    algorithm = get_algorithm("impala")
    config = resolve(algorithm, {"env": "CartPole-v1", "seed": 3, **options})
    runner = ActorLearner(config, seed_population(algorithm, config), 0, delay)
    try:
        runner.init()
        return [runner.train_chunk(updates // chunks) for _ in range(chunks)]
    finally:
        runner.close()


def test_the_same_seed_gives_bit_identical_losses_whatever_the_threads_timing():
    options = {"num_envs": 4, "actor_threads": 2, "rollout_steps": 5, "lag": 1}
    steady = losses(options, 50)[0]
    jitter = random.Random(0)
    slowed = losses(options, 50, delay=lambda: jitter.choice([0.0, 0.0, 0.0, 0.002, 0.01]))[0]
    for name in LOSSES:
        np.testing.assert_array_equal(steady[name], slowed[name], err_msg=name)
    assert np.all(steady["importance_ratio"][2:] != 1.0)  # the actors did lag: V-trace had work
    assert steady["charts/actor_lag"][:, 0].tolist() == [0, 1] + [1] * 48  # unroll 0 acts with version 0


def test_members_train_as_single_runs_do():
    options = {"num_envs": 4, "rollout_steps": 5}
    population = losses({**options, "seeds": 2}, 8, chunks=2)
    single = losses(options | {"seed": 4}, 8, chunks=2)
    charts = [key for key in single[0] if key.startswith("charts/")]  # timings: each run its own
    for metrics in population + single:
        for key in charts:
            del metrics[key]
    assert_member_is_the_single_run(population, single, member=1)


@pytest.mark.slow
def test_impala_solves_envpool_cartpole_within_a_ci_budget(tmp_path):
    config = resolve(get_algorithm("impala"), {"env": "CartPole-v1", "seed": 0, "logdir": str(tmp_path)})
    assert runner_for(config).func is ActorLearner
    run = train(config)["runs"][0]
    assert run["steps_to_target"] is not None, run
    assert run["seconds_to_target"] < 60, run


def test_the_synchronous_limit_runs_on_the_fleet():
    config = resolve(get_algorithm("impala"), {"env": "CartPole-v1", "lag": 0})
    assert runner_for(config) is Fleet


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ("Breakout-MinAtar", "runs on gymnax: the fused loop has nothing to overlap, use ppo"),
        ("gymnax:CartPole-v1", "runs on gymnax: the fused loop has nothing to overlap, use ppo"),
    ],
)
def test_a_lagged_run_on_a_jax_env_is_refused_in_one_line(env, message, tmp_path):
    options = {"env": env.partition(":")[2] or env, "logdir": str(tmp_path)}
    if ":" in env:
        options["backend"] = env.partition(":")[0]
    config = resolve(get_algorithm("impala"), options)
    with pytest.raises(ConfigError, match=message) as error:
        train(config)
    assert "\n" not in str(error.value)
    assert not list(tmp_path.iterdir())  # refused before the run dir was made


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"learner_devices": (0, 7)}, r"invalid --learner-devices 0 7: there is no device 7 \(this process has 1: "),
        ({"actor_devices": (3,)}, r"invalid --actor-devices 3: there is no device 3 \(this process has 1: "),
    ],
)
def test_devices_that_do_not_exist_are_refused_in_one_line(options, message, tmp_path):
    config = resolve(get_algorithm("impala"), {"env": "CartPole-v1", "logdir": str(tmp_path), **options})
    with pytest.raises(ConfigError, match=message) as error:
        train(config)
    assert "\n" not in str(error.value)


TWO_LEARNER_DEVICES = """
import json, sys
import numpy as np
from tests.training.test_actor_learner import losses
options = {"num_envs": 4, "actor_threads": 2, "rollout_steps": 5}
one = losses(options, 12)[0]
two = losses(dict(options, learner_devices=(0, 1), actor_devices=(0, 1)), 12)[0]
print(json.dumps({name: [one[name].tolist(), two[name].tolist()] for name in ("policy_loss", "value_loss", "entropy")}))
"""


@pytest.mark.slow
def test_two_learner_devices_average_the_gradients_of_one(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    result = subprocess.run(
        [sys.executable, "-c", TWO_LEARNER_DEVICES],
        env=env,
        cwd=Path(__file__).resolve().parents[2],  # `tests` is importable from the repo's root
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    for name, (one, two) in json.loads(result.stdout.splitlines()[-1]).items():
        np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.slow
def test_a_stopped_run_resumes_at_an_unroll_boundary_and_solves_cartpole(tmp_path):
    from tests.training.test_checkpoints import saved_arrays

    options = {"env": "CartPole-v1", "logdir": str(tmp_path), "name": "stopped", "total_steps": 400_000}
    config = resolve(get_algorithm("impala"), options)
    stopped = train(config, should_stop=lambda env_steps: env_steps >= 20480)
    assert stopped["interrupted_by"] == "request" and stopped["runs"][0]["steps_to_target"] is None
    assert stopped["memory"]["compiled"]["temp_bytes"]["update"] > 0  # the check on the first unrolls
    run_dir = Path(stopped["run_dir"])
    saved = saved_arrays(run_dir)
    assert int(saved["env_steps"]) == stopped["runs"][0]["env_steps"]  # a whole number of unrolls
    assert int(saved["env_steps"]) % (config.static.num_envs * config.static.rollout_steps) == 0

    summary = train(config, resume=run_dir)
    assert summary["interrupted_by"] is None
    assert summary["runs"][0]["steps_to_target"] is not None, summary["runs"][0]


@pytest.mark.slow
def test_two_processes_on_localhost_learn_together_and_hold_identical_parameters(tmp_path):
    """`--distributed` with two jax.distributed processes on CPU: data parallel, each steps half of
    every member's envs with its own actors and the learners average their gradients. The first
    updates are those of one process with an actor thread per process's (the same global batch,
    env seeds and actor keys); every checkpoint checks
    that both processes hold bit-identical states (a digest each, compared across processes), and
    the run learns CartPole."""
    import jax

    from tests.training.test_checkpoints import saved_arrays
    from tests.training.test_devices import free_port, start_processes

    def launch(name: str, total_steps: int, extra=()):
        flags = ["--total-steps", str(total_steps), "--log-every", "1280", "--target-return", "1000"]
        command = [sys.executable, "-m", "jaxrl.cli", "train", "impala", *flags, "--logdir", str(tmp_path)]
        processes = start_processes([*command, "--name", name, "--distributed", "True", *extra], free_port())
        for process in processes:
            _, err = process.communicate(timeout=600)
            assert process.returncode == 0, err
        return tmp_path / "CartPole-v1" / "impala" / name

    flags = ["--total-steps", "2560", "--log-every", "640", "--target-return", "1000", "--logdir", str(tmp_path)]
    single = subprocess.run(
        [sys.executable, "-m", "jaxrl.cli", "train", "impala", *flags, "--actor-threads", "2", "--name", "one"],
        env=dict(os.environ, CI="true"),
        capture_output=True,
    )
    assert single.returncode == 0, single.stderr
    one, two = saved_arrays(tmp_path / "CartPole-v1" / "impala" / "one"), saved_arrays(launch("two", 2560))
    assert int(one["env_steps"]) == int(two["env_steps"]) == 2560  # the processes' envs make one batch
    for a, b in zip(jax.tree.leaves(one["agent"]), jax.tree.leaves(two["agent"]), strict=True):
        assert a.shape == b.shape  # written once: one member, not one per process
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)  # the gradients' sums differ in order

    learned = launch("learned", 40_960, ["--checkpoint-every", "5120"])  # 8 checks of identical states
    summary = json.loads((learned / "summary.json").read_text())
    assert len(list((learned / "s0").glob("events.out.tfevents.*"))) == 1  # logged by one process
    assert summary["runs"][0]["final_return"] >= 100, summary["runs"][0]  # from ~22 at random (142 measured)


def test_processes_whose_states_differ_refuse_to_checkpoint(monkeypatch):
    """The check behind "identical parameters": a digest per process, gathered and compared."""
    from jaxrl.training import distributed

    class Two:  # stands in for Processes: what DataParallel reads of it
        index, count = 0, 2

    monkeypatch.setattr(distributed, "process_allgather", lambda digest: np.stack([digest, digest + 1]))
    with pytest.raises(RuntimeError, match="2 processes' learners hold different states"):
        distributed.DataParallel(Two()).check_alike([np.ones(3, np.float32)])
    monkeypatch.setattr(distributed, "process_allgather", lambda digest: np.stack([digest, digest]))
    distributed.DataParallel(Two()).check_alike([np.ones(3, np.float32)])


def test_envs_that_do_not_split_over_the_processes_actor_threads_are_refused():
    from jaxrl.training.actor_learner import check_devices

    config = resolve(get_algorithm("impala"), {"env": "CartPole-v1", "num_envs": 6, "actor_threads": 2})
    check_devices(config)  # one process: 3 envs per thread
    with pytest.raises(ConfigError, match="^--num-envs 6 does not split evenly over the 2 --actor-threads of each of"):
        check_devices(config, processes=2)
