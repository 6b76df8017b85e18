"""A plain `pip install .` works as well as the editable install: the wheel carries the presets
(package data) and py.typed, so `jaxrl train ppo --env CartPole` from a fresh venv resolves the tuned values."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*argv, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_a_wheel_installed_into_a_fresh_venv_trains_with_the_presets(tmp_path):
    source = tmp_path / "source"  # a copy: setuptools' build/ folder in the tree may hold stale modules
    shutil.copytree(ROOT / "jaxrl", source / "jaxrl", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path, source)
    (wheel,) = tmp_path.glob("jaxrl-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip())
    # The dependencies come from this venv's site-packages, appended to the fresh one's path; its
    # editable jaxrl does not come with them (an appended path's .pth files are not run).
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel)

    where = run(python, "-c", "import jaxrl; print(jaxrl.__file__)", cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(site), where  # the wheel's copy, not the source tree
    assert (Path(where).parent / "py.typed").is_file()  # PEP 561: type checkers read jaxrl's hints
    env = dict(os.environ, CI="true")
    run(venv / "bin" / "jaxrl", "train", "ppo", "--env", "CartPole", "--total-steps", "2560",
        "--logdir", tmp_path / "runs", "--name", "wheel", cwd=tmp_path, env=env)  # fmt: skip
    config = json.loads((tmp_path / "runs" / "CartPole-v1" / "ppo" / "wheel" / "config.json").read_text())
    # the preset's values (jaxrl/presets/ppo.toml [classic], ["envpool:CartPole-v1"]), not the
    # algorithm's field defaults
    assert config["static"]["num_envs"] == 8 and config["static"]["rollout_steps"] == 32
    assert config["static"]["update_epochs"] == 20 and config["hyper"]["lr"] == 3e-3
    assert config["target_return"] == 475
