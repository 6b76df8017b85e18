"""The Python API: the README's example runs as written; a bad keyword raises ConfigError with
the command line's line, before anything is built; runs are quiet by default."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jaxrl
from jaxrl.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    text = README.read_text()
    match = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md has no python block after <!-- api-example -->"
    return match.group(1)


@pytest.mark.slow
def test_the_readme_example_runs_as_written(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # its runs land in ./runs (and later tests run where they began)
    scope: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), scope)
    result = scope["result"]
    assert [run["run"] for run in result.summary["runs"]] == ["s0", "s1", "s2", "s3"]
    assert result.run_dir.is_dir() and (result.run_dir / "summary.json").is_file()
    assert scope["action"] in (0, 1) and scope["actions"].shape == (8,) and scope["actions"].dtype == np.int32
    assert set(scope["scores"]["members"]) == {"s0", "s1", "s2", "s3"}
    assert len(scope["scores"]["members"]["s0"]["returns"]) == 10
    sweep = scope["sweep"]
    assert len(sweep.summary["points"]) == 2 and "IQM" in sweep.report
    assert "steps " not in capsys.readouterr().err  # quiet: no progress display unless asked


def test_a_greedy_policy_acts_on_its_preferences(tmp_path):
    result = jaxrl.train("ppo", total_steps=2560, logdir=str(tmp_path), name="p")
    policy = jaxrl.load(result.run_dir, member="s0")
    observations = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    logits = np.asarray(policy.agent.preferences(policy.state, observations))
    np.testing.assert_array_equal(policy(observations), logits.argmax(axis=1))
    with pytest.raises(ValueError, match=r"observations of shape \(16, 3\): expected \[B, 4\]"):
        policy(observations[:, :3])


BAD_CALLS = [
    (("ppo",), {"lerning_rate": 1e-3}, ["train", "ppo", "--lerning-rate", "1e-3"]),
    (("ppo",), {"ent_coeff": 0.1}, ["train", "ppo", "--ent-coeff", "0.1"]),
    (("ppo",), {"lr": "fast"}, ["train", "ppo", "--lr", "fast"]),
    (("ppo",), {"lr": 0.0}, ["train", "ppo", "--lr", "0"]),
    (("ppo",), {"seeds": 0}, ["train", "ppo", "--seeds", "0"]),
    (("ppo",), {"env": "Pongg"}, ["train", "ppo", "--env", "Pongg"]),
    (("ppo",), {"num_minibatches": 3}, ["train", "ppo", "--num-minibatches", "3"]),
    (("pppo",), {}, ["train", "pppo"]),
]


@pytest.mark.parametrize("args, keywords, argv", BAD_CALLS, ids=[" ".join(argv[1:]) for *_, argv in BAD_CALLS])
def test_a_bad_keyword_raises_config_error_with_the_command_lines_line(tmp_path, capsys, args, keywords, argv):
    with pytest.raises(jaxrl.ConfigError) as error:
        jaxrl.train(*args, logdir=str(tmp_path / "runs"), **keywords)
    assert isinstance(error.value, ValueError)
    assert main([*argv, "--logdir", str(tmp_path / "runs")]) == 2
    assert capsys.readouterr().err.strip() == f"jaxrl: error: {error.value}"
    assert not (tmp_path / "runs").exists()


def test_sweep_and_load_refuse_bad_input_before_building_anything(tmp_path):
    with pytest.raises(jaxrl.ConfigError, match="nothing to sweep"):
        jaxrl.sweep("ppo", lr=3e-4, logdir=str(tmp_path))
    with pytest.raises(jaxrl.ConfigError, match=r"invalid lr=\[0.001, 'x'\]: expected numbers"):
        jaxrl.sweep("ppo", lr=[1e-3, "x"], logdir=str(tmp_path))
    with pytest.raises(jaxrl.ConfigError, match="no such run directory"):
        jaxrl.load(tmp_path / "nowhere")
    with pytest.raises(jaxrl.ConfigError, match="no such run directory"):
        jaxrl.evaluate(tmp_path / "nowhere")
    assert not list(tmp_path.iterdir())


def jax_env_example() -> str:
    match = re.search(r"<!-- jax-env-example -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert match, "README.md has no python block after <!-- jax-env-example -->"
    return match.group(1)


@pytest.mark.slow
def test_the_readme_jax_env_example_runs_as_written_and_learns(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scope: dict = {"__name__": "readme"}
    exec(compile(jax_env_example(), "README.md", "exec"), scope)
    result = scope["result"]
    assert result.summary["runs"][0]["final_return"] == 10.0
    assert result.config.env == "Lamps" and result.config.env_object == "readme:Lamps"
    assert scope["scores"]["members"]["s0"]["returns"] == [10.0] * 10


@pytest.mark.parametrize("started", [False, True])
def test_xla_flags_are_added_only_before_the_backend_starts(tmp_path, started):
    """Flags added after XLA read them would only relabel the persistent cache's keys: a later
    process that has them would load programs compiled without them."""
    from jaxrl.api import XLA_CPU_FLAGS

    start = "jax.devices(); " if started else ""
    code = (
        f"import os, jax; from jaxrl import api; {start}api.enable_compilation_cache(); print(os.environ['XLA_FLAGS'])"
    )
    env = dict(os.environ, JAXRL_CACHE_DIR=str(tmp_path), XLA_FLAGS="--xla_dump_to=/nowhere")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["--xla_dump_to=/nowhere", *([] if started else XLA_CPU_FLAGS)]
