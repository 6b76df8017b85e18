"""Compile seconds per program: heard from JAX while entered, taken once each, logged at the
first iteration of the chunk they came before."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.logs.base import member_scalars
from jaxrl.training.compile_times import CompileTimes, program_of
from jaxrl.training.hooks.logs import compile_metrics


def test_jax_names_map_to_the_programs_of_a_run():
    assert program_of("update") == program_of("jit(update)") == "update"
    assert program_of("jit(iterations)") == "chunk"
    assert program_of("jit(convert_element_type)") == "other"


def test_a_jitted_function_is_timed_in_every_stage_once_and_not_after_exit():
    def update(x):  # named as the runner's program
        return jnp.sin(x) * 2

    with CompileTimes() as times:
        jax.jit(update)(jnp.arange(3.0)).block_until_ready()
        taken = times.take()
        assert times.take() == {}  # each compile is reported once
    jax.jit(update)(jnp.arange(5.0)).block_until_ready()  # after exit: not heard
    summary = times.summary()
    assert taken["update"] > 0
    assert set(summary["update"]) == {"trace", "lower", "compile"}
    assert all(seconds > 0 for seconds in summary["update"].values())
    assert summary["total"] >= sum(summary["update"].values()) - 1e-3


def test_compile_seconds_are_logged_at_the_chunks_first_iteration_only():
    metrics = {
        "env_steps": np.array([[100, 100], [200, 200]]),
        "diverged_at": np.full((2, 2), -1),
        "episodes_ended": np.zeros((2, 2)),
        "episode_return_sum": np.zeros((2, 2)),
        "episode_length_sum": np.zeros((2, 2)),
        "recent_return": np.full((2, 2), np.nan),
        **compile_metrics({"update": 1.5}, (2, 2)),
    }
    (first_step, first), (_, second) = member_scalars(metrics, 1)
    assert first_step == 100 and first["time/compile/update"] == 1.5
    assert "time/compile/update" not in second
