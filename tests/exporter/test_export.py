"""`jaxrl export`: onnxruntime computes what JAX computes for every network kind and head; the
policy folder describes itself and loads without JAX; examples/onnx_inference.py plays the games
`jaxrl eval` plays; bad input is one line and writes nothing."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import onnxruntime
import pytest

import jaxrl
from jaxrl.algos import get_algorithm
from jaxrl.cli import check_flags, main
from jaxrl.core.normalization import RunningStats
from jaxrl.core.types import EnvSpec
from jaxrl.errors import ConfigError
from jaxrl.exporter import folder as policy_folder
from jaxrl.exporter import graph
from jaxrl.training.evaluation import Member

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "onnx_inference.py"
CARTPOLE = EnvSpec("CartPole-v1", (4,), "float32", 2)
PONG = EnvSpec("Pong-v5", (4, 84, 84), "uint8", 6, frame_stack=4)
MINATAR = EnvSpec("Breakout-MinAtar", (10, 10, 4), "bool", 3)
CHEETAH = EnvSpec("HalfCheetah-v5", (17,), "float32", 6, 1, (6,), (-1.0,) * 6, (1.0,) * 6)
PENDULUM = EnvSpec("Pendulum-v1", (3,), "float32", 1, 1, (1,), (-2.0,), (2.0,))


def observations(spec: EnvSpec, count: int = 1000) -> np.ndarray:
    rng = np.random.default_rng(0)
    shape = (count, *spec.obs_shape)
    if spec.obs_dtype == "uint8":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if spec.obs_dtype == "bool":
        return rng.random(shape) < 0.3
    return (3.0 * rng.normal(size=shape)).astype(spec.obs_dtype)


def random_member(algo: str, spec: EnvSpec, **static) -> Member:
    algorithm = get_algorithm(algo)
    agent = algorithm.build(algorithm.Static(**static), spec, 10)
    state = jax.jit(agent.init)(jax.random.PRNGKey(1), algorithm.Hyper())  # one program: faster than eager
    if getattr(state, "obs_stats", None) is not None:  # statistics far from the prior, so they must be baked in
        rng = np.random.default_rng(1)
        mean, var = rng.normal(size=spec.obs_shape), rng.uniform(0.1, 9.0, spec.obs_shape)
        state = state.replace(obs_stats=RunningStats(np.float32(mean), np.float32(var), np.float32(1e4)))
    return Member(agent, state, spec, "s0", 0, 0)


def run_onnx(model, obs: np.ndarray) -> dict:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"obs": obs}), strict=True))


KINDS = {
    "cartpole-mlp-ppo": ("ppo", CARTPOLE, {"shared_torso": False}, {"logits", "value"}),
    "cartpole-mlp-dqn": ("dqn", CARTPOLE, {}, {"q_values"}),
    "cartpole-mlp-pqn-layernorm": ("pqn", CARTPOLE, {}, {"q_values"}),
    "pong-nature-cnn-ppo": ("ppo", PONG, {}, {"logits", "value"}),
    "minatar-cnn-pqn-layernorm": ("pqn", MINATAR, {}, {"q_values"}),
    "continuous-ppo-normalised": (
        "ppo",
        CHEETAH,
        {"norm_obs": True, "shared_torso": False},
        {"mean", "log_std", "value"},
    ),
    "sac-tanh-gaussian": ("sac", PENDULUM, {"hidden": (64, 64)}, {"mean", "log_std"}),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_onnxruntime_computes_what_jax_computes_on_1000_observations(kind):
    algo, spec, static, outputs = KINDS[kind]
    member = random_member(algo, spec, **static)
    policy = policy_folder.greedy_policy(member)
    model = graph.to_onnx(policy, spec.obs_shape, spec.obs_dtype, {})
    obs = observations(spec)
    want = jax.tree.map(np.asarray, jax.jit(policy)(obs))
    got = run_onnx(model, obs)
    assert set(got) == set(want) == {"action", *outputs}
    assert [o.name for o in model.graph.output][0] == "action"
    for name in outputs:
        assert got[name].dtype == np.float32 and got[name].shape == want[name].shape
        assert np.max(np.abs(got[name] - want[name])) <= 1e-5, name
    if spec.continuous:
        np.testing.assert_allclose(got["action"], want["action"], atol=1e-5, rtol=0)
        assert np.all(got["action"] >= np.float32(spec.action_low)) and np.all(got["action"] <= spec.action_high)
    else:
        assert got["action"].dtype == np.int32
        np.testing.assert_array_equal(got["action"], want["action"])
        assert len(set(want["action"].tolist())) > 1  # the observations reach more than one action
    batch_of_one = run_onnx(model, obs[:1])  # the batch axis is dynamic
    np.testing.assert_array_equal(batch_of_one["action"], got["action"][:1])


def test_a_primitive_without_a_rule_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"^cannot export `cumsum` \(in the policy\) to ONNX"):
        graph.to_onnx(lambda obs: {"action": jax.lax.cumsum(obs, axis=1)}, (4,), "float32", {})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A short CartPole PPO run on gymnasium's envs (so the example can replay eval's games)."""
    root = tmp_path_factory.mktemp("runs")
    return jaxrl.train("ppo", backend="gymnasium", total_steps=2048, logdir=str(root), name="p").run_dir


@pytest.fixture(scope="module")
def exported(run_dir) -> Path:
    """`jaxrl export RUN_DIR` through the console script, as a user runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "jaxrl.cli", "export", str(run_dir), "--episodes", "5"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(str(run_dir / "policy-s0"))
    return run_dir / "policy-s0"


def test_the_policy_folder_describes_the_policy_and_its_run(exported, run_dir):
    assert {path.name for path in exported.iterdir()} == {
        "policy.onnx",
        "policy.json",
        "README.md",
        "learning_curve.png",
    }
    info = json.loads((exported / "policy.json").read_text())
    assert info["env"]["id"] == "CartPole-v1" and info["algorithm"] == "ppo"
    assert info["observation"] == {"shape": [4], "dtype": "float32", "preprocessing": "as the env gives it"}
    assert info["action_space"] == {"type": "Discrete", "n": 2}
    assert info["onnx"]["opset"] == graph.OPSET and set(info["onnx"]["outputs"]) == {"action", "logits", "value"}
    assert info["hyperparameters"]["lr"] == json.loads((run_dir / "config.json").read_text())["hyper"]["lr"]
    assert info["command"].startswith("jaxrl train ppo --env CartPole-v1 --backend gymnasium --seed 0")
    check_flags(info["command"].split()[1:])  # flags jaxrl train takes, with values of their types
    assert info["returns"]["final"] is not None and len(info["returns"]["greedy"]["returns"]) == 5
    card = (exported / "README.md").read_text()
    assert "![learning curve](learning_curve.png)" in card and info["command"] in card


def test_load_of_a_policy_folder_acts_as_load_of_the_run(exported, run_dir):
    obs = observations(CARTPOLE)
    from_folder, from_run = jaxrl.load(exported), jaxrl.load(run_dir)
    np.testing.assert_array_equal(from_folder(obs), from_run(obs))
    assert from_folder(obs[0]) == from_run(obs[0])
    with pytest.raises(ConfigError, match="a policy folder holds one greedy policy"):
        jaxrl.load(exported, stochastic=True)


def test_the_example_plays_evals_games_without_jax(exported, run_dir):
    # jax made unimportable: the example (gymnasium + onnxruntime) must not need it
    code = (
        "import runpy, sys; sys.modules['jax'] = None; "
        f"sys.argv = ['onnx_inference.py', {str(exported)!r}, '--episodes', '5']; "
        f"runpy.run_path({str(EXAMPLE)!r}, run_name='__main__')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    returns = [float(r) for r in lines[0].removeprefix("returns:").split()]
    evaluated = jaxrl.evaluate(run_dir, episodes=5)["members"]["s0"]["returns"]
    assert returns == evaluated  # the same games, game by game
    assert lines[1] == f"mean return {np.mean(evaluated):.2f} over 5 episodes"


def one_line_and_nothing_written(argv, capsys, run_dir: Path, message: str) -> None:
    before = sorted(str(path) for path in run_dir.rglob("*"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert sorted(str(path) for path in run_dir.rglob("*")) == before


def test_bad_input_is_one_line_and_writes_nothing(exported, run_dir, tmp_path, capsys, monkeypatch):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text((run_dir / "config.json").read_text())
    one_line_and_nothing_written(["export", str(unfinished)], capsys, unfinished, "no checkpoints/ folder")
    one_line_and_nothing_written(["export", str(run_dir), "--member", "3"], capsys, run_dir, "member 3: ")
    one_line_and_nothing_written(["export", str(run_dir)], capsys, run_dir, "already exists; pass --force")
    out = str(tmp_path / "elsewhere")
    monkeypatch.delitem(graph.RULES, "tanh")
    one_line_and_nothing_written(["export", str(run_dir), "--out", out], capsys, run_dir, "cannot export `tanh` (in")
    monkeypatch.undo()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    one_line_and_nothing_written(["export", str(run_dir), "--out", out], capsys, run_dir, "pip install 'jaxrl[export]'")
    assert not Path(out).exists()


def test_force_replaces_a_policy_folder_and_only_a_policy_folder(exported, run_dir, tmp_path):
    (exported / "stale.txt").write_text("from an older export")
    info = jaxrl.export(run_dir, out=exported, force=True, episodes=0)
    assert info["returns"]["greedy"] is None and not (exported / "stale.txt").exists()
    with pytest.raises(ConfigError, match="not a policy folder"):
        jaxrl.export(run_dir, out=run_dir, force=True, episodes=0)
