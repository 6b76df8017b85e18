"""Memory is known before it is spent: the estimate is exact for the state, a run that cannot
fit is refused in one line before anything is allocated, and a big replay costs its own bytes
only (no copy at set-up, none when it is checkpointed)."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxrl.algos import get_algorithm
from jaxrl.api import train
from jaxrl.cli import main
from jaxrl.config import resolve
from jaxrl.core.buffers import nbytes
from jaxrl.training import fleet, memory
from jaxrl.training.assembly import assemble
from jaxrl.training.memory import available_bytes, estimate
from jaxrl.training.population import seed_population


@pytest.mark.parametrize(
    "name, flags",
    [
        ("dqn", {"env": "CartPole", "buffer_size": 4096}),
        ("ippo", {"env": "MPE_simple_speaker_listener_v4", "num_envs": 4, "rollout_steps": 8}),  # masks in info
        # world states in info, an actor's and a critic's carry in the state and the rollout
        ("mappo", {"env": "MPE_simple_spread_v3", "num_envs": 12, "rollout_steps": 8, "recurrent": "gru"}),
    ],
)
def test_the_estimate_is_what_the_programs_allocate_for_state_and_rollout(name, flags):
    algorithm = get_algorithm(name)
    config = resolve(algorithm, {"seeds": 2, **flags})
    population = seed_population(algorithm, config)
    need = estimate(algorithm, config, population)
    parts = assemble(config, population.seeds)
    try:
        state, handle = parts.programs.init(np.asarray(population.seeds, np.int32), population.hyper)
        state, handle, traj, ended = parts.programs.collect(state, handle)
        assert need.state_bytes == nbytes(state)
        assert need.rollout_bytes == nbytes(traj) - nbytes(traj.last_obs)  # the last obs is the state's
    finally:
        parts.env.close()


def test_a_run_that_cannot_fit_is_refused_in_one_line_naming_both_figures(tmp_path, capsys):
    free, _ = available_bytes()
    buffer = int(2 * free / 8.5)  # CartPole transitions take ~27 bytes: twice what is free
    assert main(["train", "dqn", "--buffer-size", str(buffer), "--logdir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("jaxrl: error: the run needs about ")
    assert "GB free: lower --buffer-size, --seeds or --num-envs, or pass --force True" in err
    assert not (tmp_path / "runs").exists()


def peak_rss_mib(tmp_path, buffer_size: int) -> float:
    """Peak RSS of `jaxrl train dqn` on CartPole with this replay, checkpointed, in a child."""
    script = (
        "import resource, sys; from jaxrl.cli import main; code = main(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)"
    )
    argv = ["train", "dqn", "--buffer-size", str(buffer_size), "--total-steps", "2048", "--log-every", "1024"]
    argv += ["--learning-starts", "512", "--logdir", str(tmp_path), "--checkpoint-replay", "True"]
    result = subprocess.run(
        [sys.executable, "-c", script, *argv],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, CI="true"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return int(result.stdout.strip().splitlines()[-1]) / 1024


@pytest.mark.slow
def test_a_checkpointed_replay_costs_its_own_bytes_and_no_copy(tmp_path):
    algorithm = get_algorithm("dqn")
    big = 8_000_000
    config = resolve(algorithm, {"env": "CartPole", "buffer_size": big})
    replay_mib = estimate(algorithm, config, seed_population(algorithm, config)).state_bytes / 2**20
    # each measured on its second run, from the compilation cache, so that neither carries the compiler's peak
    small = [peak_rss_mib(tmp_path / "small", 10_000) for _ in range(2)][-1]
    large = [peak_rss_mib(tmp_path / "large", big) for _ in range(2)][-1]
    # The buffer costs its own bytes (measured: 1.2-1.3x, its pages and the allocator's slack); a
    # whole copy of it, at set-up or by a checkpoint writer, would make that 2x or more (orbax's
    # writer did: issue 18).
    assert large - small < 1.5 * replay_mib, (small, large, replay_mib)
    files = list((tmp_path / "large").rglob("replay/obs.*.npy"))
    assert files and np.load(files[0], mmap_mode="r").shape[:2] == (1, big // 8 + 1)


def test_the_compiled_programs_temporaries_are_counted_and_recorded(tmp_path):
    summary = train("ppo", env="CartPole", total_steps=1024, logdir=str(tmp_path), loggers=[]).summary
    compiled = summary["memory"]["compiled"]
    assert compiled["temp_bytes"]["update"] > 0 and compiled["temp_bytes"]["collect"] >= 0
    assert compiled["runtime_bytes"] >= compiled["temp_bytes"]["update"] and compiled["resident_bytes"] > 0
    assert compiled["total_bytes"] == compiled["state_bytes"] + compiled["rollout_bytes"] + compiled["runtime_bytes"]
    assert summary["memory"]["peak_rss_bytes"] > 0 and summary["memory"]["estimate_bytes"] > 0


def test_a_run_whose_compiled_programs_do_not_fit_is_refused_before_its_big_state(tmp_path, capsys, monkeypatch):
    # enough for the estimate made before compiling, nothing once the programs are compiled
    free = iter([(1 << 50, "this machine"), (0, "this machine")])
    monkeypatch.setattr(memory, "available_bytes", lambda: next(free))

    def spied(start):  # `start` makes the state (the replay); traced (eval_shape) it allocates nothing
        def start_spied(*args):
            if not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(args)):
                raise AssertionError("the replay was about to be allocated")
            return start(*args)

        return start_spied

    compiling = fleet.started_compiling
    monkeypatch.setattr(
        fleet, "started_compiling", lambda programs, *a: compiling(programs._replace(start=spied(programs.start)), *a)
    )
    argv = ["train", "dqn", "--buffer-size", "4000000", "--total-steps", "256", "--logdir", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("jaxrl: error: the run needs about ")
    assert "compiled programs and runtime" in err and "pass --force True" in err
