"""Start-up: a CartPole run imports only what it uses before its first env step. orbax comes at
the first checkpoint, TensorBoard's reader on resume or compare, matplotlib for plots, imageio for
videos, wandb with --track, ale-py for ids EnvPool lacks, gymnax for JAX envs, onnx and
onnxruntime for export, and of EnvPool only the families jaxrl trains on; scipy.linalg never (jaxlib's
LAPACK kernels load without it: `api.load_lapack_kernels`). (gymnasium is imported by EnvPool itself, for its spaces: 12 ms.)"""

import json
import os
import subprocess
import sys

import pytest

LATER = [
    "orbax", "matplotlib", "imageio", "tensorboard", "wandb", "ale_py", "envpool.mujoco", "envpool.jumanji", "gymnax",
    "onnx", "onnxruntime", "scipy.linalg",
]  # fmt: skip

PROBE = """
import json, sys
import jaxrl

class Probe:  # a logger: opened after set-up, right before the loop takes its first env step
    def open(self, run):
        print(json.dumps({name: name in sys.modules for name in NAMES}))
    def log_chunk(self, metrics, elapsed_s): pass
    def log_hparams(self, member_hparams, final_returns, step): pass
    def log_video(self, member, frames, fps, step): pass
    def note(self, text): pass
    def flush(self): pass
    def close(self): pass

jaxrl.train("ppo", env="CartPole", total_steps=2560, logdir=sys.argv[1], loggers=[Probe()])
"""


@pytest.mark.slow
def test_a_cartpole_run_imports_no_later_library_before_its_first_env_step(tmp_path):
    script = f"NAMES = {LATER!r}\n{PROBE}"
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, CI="true"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    imported = json.loads(result.stdout.strip().splitlines()[0])
    assert imported == dict.fromkeys(LATER, False), imported


@pytest.mark.slow
def test_a_training_run_does_not_import_torch_even_where_it_is_installed(tmp_path):
    # a torch package on the path: tensorboardX imports whatever `torch` it finds
    (tmp_path / "site" / "torch").mkdir(parents=True)
    (tmp_path / "site" / "torch" / "__init__.py").write_text("Tensor = object\n")
    script = "import sys; from jaxrl.cli import main; code = main(sys.argv[1:]); print('torch' in sys.modules); sys.exit(code)"
    path = os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", script, "train", "ppo", "--env", "CartPole", "--total-steps", "2560",
         "--logdir", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, CI="true", PYTHONPATH=path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"
    assert list((tmp_path / "runs").glob("*/*/*/s0/events.out.tfevents.*"))  # TensorBoard's files were written
