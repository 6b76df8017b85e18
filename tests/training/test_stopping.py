"""Ctrl-C at any moment, compilation included: the first stops the run at the next chunk boundary
(before the first chunk, if the programs are compiling) with a checkpoint, a summary and exit
130; a second ends the process at once. The signals are sent by the run's own process the moment
JAX has traced its update program, so they land during compilation every time."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from jaxrl.training.checkpoints import latest_step

# `signals` SIGINTs to itself once the update program is traced (its lowering and XLA compile follow)
CHILD = """
import os, signal, sys
from jax import monitoring
from jaxrl.cli import main

# Ctrl-C as at a terminal: a process started in the background by a non-interactive shell (a CI
# runner's, say) inherits SIGINT ignored, and jaxrl leaves a second signal to what it found
signal.signal(signal.SIGINT, signal.default_int_handler)

def heard(event, seconds, fun_name="", **_):
    if event.endswith("jaxpr_trace_duration") and fun_name == "update":
        for _ in range(SIGNALS):
            os.kill(os.getpid(), signal.SIGINT)

monitoring.register_event_duration_secs_listener(heard)
sys.exit(main(sys.argv[1:]))
"""


def interrupted_run(tmp_path: Path, signals: int) -> subprocess.CompletedProcess:
    argv = ["train", "ppo", "--env", "CartPole-v1", "--total-steps", "20480", "--log-every", "2048"]
    return subprocess.run(
        [sys.executable, "-c", f"SIGNALS = {signals}\n{CHILD}", *argv, "--logdir", str(tmp_path), "--name", "run"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, CI="true"),
    )  # fmt: skip


@pytest.mark.slow
def test_a_ctrl_c_while_compiling_stops_before_the_first_chunk_with_a_checkpoint_and_a_summary(tmp_path):
    result = interrupted_run(tmp_path, signals=1)
    assert result.returncode == 128 + signal.SIGINT, result.stderr[-2000:]
    run_dir = tmp_path / "CartPole-v1" / "ppo" / "run"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["interrupted_by"] == "SIGINT"
    assert summary["runs"][0]["env_steps"] == 0  # not one chunk trained
    assert latest_step(run_dir) == 0
    assert summary["compile_s"]["update"]["compile"] > 0  # it did finish compiling first


@pytest.mark.slow
def test_a_second_ctrl_c_ends_the_process_at_once_leaving_a_run_dir_that_resumes(tmp_path):
    result = interrupted_run(tmp_path, signals=2)
    assert result.returncode == -signal.SIGINT, result.stderr[-2000:]  # died by the signal, inside XLA
    run_dir = tmp_path / "CartPole-v1" / "ppo" / "run"
    assert (run_dir / "config.json").exists() and not (run_dir / "summary.json").exists()
    resumed = subprocess.run(
        [sys.executable, "-c", "import sys; from jaxrl.cli import main; sys.exit(main(sys.argv[1:]))",
         "train", "--resume", str(run_dir)],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, CI="true"),
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((run_dir / "summary.json").read_text())["runs"][0]["env_steps"] == 20480
