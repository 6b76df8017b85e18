"""The console script end to end: bad input fails fast with one line and exit code 2, writing
nothing; a real run writes config.json, TensorBoard runs and summary.json; runs are repeatable."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jaxrl.cli import main
from jaxrl.errors import ConfigError

FAST = ["--total-steps", "2560", "--log-every", "1280"]


def jaxrl(*args, cwd=None):
    env = dict(os.environ, CI="true")
    return subprocess.run(
        [sys.executable, "-m", "jaxrl.cli", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )


BAD_INPUTS = [
    (["train", "pppo"], "unknown algorithm 'pppo'; did you mean 'ppo'?"),
    (["train", "ppo", "--env", "Pongg"], "unknown env 'Pongg'; did you mean 'Pong'?"),
    (["train", "ppo", "--lr", "0"], "invalid --lr 0.0: must be > 0"),
    (["train", "ppo", "--lr", "-3e-4"], "invalid --lr -0.0003: must be > 0"),
    (["train", "ppo", "--gamma", "1.5"], "invalid --gamma 1.5: must be in (0, 1]"),
    (["train", "ppo", "--gae-lambda", "-0.1"], "invalid --gae-lambda -0.1: must be in [0, 1]"),
    (["train", "ppo", "--clip-eps", "0"], "invalid --clip-eps 0.0: must be > 0"),
    (["train", "ppo", "--ent-coef", "-0.01"], "invalid --ent-coef -0.01: must be >= 0"),
    (["train", "ppo", "--seeds", "0"], "invalid --seeds 0: must be an integer >= 1"),
    (["train", "ppo", "--num-envs", "0"], "invalid --num-envs 0: must be an integer >= 1"),
    (
        ["train", "ppo", "--num-minibatches", "3"],
        "num_envs * rollout_steps = 256 is not divisible by num_minibatches = 3",
    ),
    (["train", "ppo", "--num-minibatches", "256"], "a minibatch of 1 cannot normalise advantages"),
    (
        ["train", "ppo", "--total-steps", "100"],
        "--total-steps 100 is below one rollout (num_envs * rollout_steps = 256)",
    ),
    (["train", "ppo", "--lr", "nan"], "invalid --lr nan: must be a finite number"),
    (["train", "ppo", "--lerning-rate", "1e-3"], "unknown flag --lerning-rate for jaxrl train ppo"),
    (["train", "ppo", "--ent-coeff", "0.1"], "unknown flag --ent-coeff for jaxrl train ppo; did you mean --ent-coef?"),
    (["train", "ppo", "--seed", "abc"], "invalid --seed 'abc': expected int"),
    (
        ["train", "dqn", "--recurrent", "gru"],
        "unknown flag --recurrent for jaxrl train dqn; --recurrent is taken by ppo",
    ),
    (["train", "ppo", "--recurrent-size", "0"], "invalid --recurrent-size 0: must be an integer >= 1"),
    (["train", "ppo", "--lr", "fast"], "invalid --lr 'fast': expected float"),
    (["train", "ppo", "--seeds"], "--seeds needs a value"),
    (["train", "dqn", "--env", "Pendulum-v1"], "dqn supports Discrete actions; got Box(-2.0, 2.0, (1,), float32)"),
    (["train", "dqn", "--env", "HalfCheetah-v5"], "dqn supports Discrete actions; got Box(-1.0, 1.0, (6,), float64)"),
    (["train", "a2c", "--env", "Hopper-v4"], "a2c supports Discrete actions; got Box(-1.0, 1.0, (3,), float64)"),
    (
        ["train", "dqn", "--env", "Pendulum-v1", "--backend", "gymnasium"],
        "dqn supports Discrete actions; got Box(-2.0, 2.0, (1,), float32)",
    ),
    (["train", "sac", "--target-entropy-scale", "1.5"], "invalid --target-entropy-scale 1.5: must be in [0, 1]"),
    (["train", "sac", "--tau", "0"], "invalid --tau 0.0: must be in (0, 1]"),
    (["train", "sac", "--alpha", "0"], "invalid --alpha 0.0: must be > 0"),
    (
        ["train", "sac", "--env", "Pendulum-v1", "--train-every", "3"],
        "num_envs * rollout_steps = 16 is not a multiple of train_every = 3",
    ),
    (["train", "ppo", "--checkpoint-every", "0"], "invalid --checkpoint-every 0: must be an integer >= 1"),
    (["train", "ppo", "--keep-checkpoints", "0"], "invalid --keep-checkpoints 0: must be an integer >= 1"),
    (["train", "ppo", "--checkpoint-replay", "maybe"], "invalid --checkpoint-replay 'maybe': expected True or False"),
    (["train", "ppo", "--hidden", "64", "0"], "invalid --hidden 64 0: must be integers >= 1"),
    (
        ["train", "ppo", "--env", "Breakout", "--backend", "gymnax"],
        "unknown env 'Breakout' in gymnax; did you mean 'Breakout-MinAtar'?",
    ),
    (
        ["train", "ppo", "--backend", "gym"],
        "unknown backend 'gym': choose one of craftax, envpool, gymnasium, gymnax, jaxmarl",
    ),
    (
        ["train", "ppo", "--env", "tests.envs.probes:missing"],
        "--env tests.envs.probes:missing: tests.envs.probes has no function missing",
    ),
    (["train", "ppo", "--env", "tests.envs.probes:make_continuous"], "acts in a Box[1]; jaxrl trains on Discrete(n)"),
    (
        ["train", "dqn", "--env", "Pendulum-v1", "--backend", "gymnax"],
        "dqn supports Discrete actions; got Box(-2.0, 2.0, (1,), float32)",
    ),
    (
        ["train", "ppo", "--env", "tests.envs.probes:make_bandit", "--capture-video", "1000"],
        "--capture-video: cannot draw tests.envs.probes:make_bandit: gymnasium has no such env",
    ),
    (
        ["train", "ppo", "--env", "tests.envs.probes:make_bandit", "--backend", "envpool"],
        "a factory's env is a JAX env: use --backend gymnax",
    ),
    (
        ["train", "pqn", "--num-minibatches", "3"],
        "num_envs * rollout_steps = 2048 is not divisible by num_minibatches = 3",
    ),
    (["train", "pqn", "--q-lambda", "1.5"], "invalid --q-lambda 1.5: must be in [0, 1]"),
    (["train", "pqn", "--reward-scale", "0"], "invalid --reward-scale 0.0: must be > 0"),
    (["sweep", "pqn", "--q-lambda", "0.5,1.2"], "invalid --q-lambda 1.2: must be in [0, 1]"),
    (["train"], "jaxrl train needs an algorithm first: ppo, reinforce, a2c, dqn, ddqn, sac, pqn"),
    (["trian", "ppo"], "unknown command 'trian'; did you mean 'train'?"),
    (["pbt", "ppo", "--lr", "1e-2:1e-5:log"], "invalid --lr 1e-2:1e-5:log: low must be below high"),
    (["pbt", "ppo", "--ent-coef", "0:0.05:log"], "invalid --ent-coef 0:0.05:log: a log range needs low > 0"),
    (["pbt", "ppo", "--lr", "1e-4,3e-4"], "--lr: PBT explores ranges; give low:high or low:high:log"),
    (["pbt", "ppo", "--gamma", "0.99"], "nothing to tune: give a hyperparameter a range"),
    (["pbt", "ppo", "--lr", "1e-5:1e-2:log", "--truncation", "0.6"], "invalid --truncation 0.6: must be in (0, 0.5]"),
    (["pbt", "ppo", "--lr", "1e-5:1e-2", "--population", "3"], "PBT needs at least 4 members per population"),
    (
        ["pbt", "ppo", "--lr", "1e-5:1e-2", "--ready-every", "100"],
        "--ready-every 100 is shorter than one rollout (num_envs * rollout_steps = 256)",
    ),
    (["pbt", "ppo", "--lr", "1e-5:1e-2", "--distributed", "True"], "--distributed: PBT trains in one process"),
    (["pbt", "ppo", "--lr", "1e-5:1e-2", "--num-envs", "4,8"], "--num-envs 4,8: only numeric hyperparameters"),
    (["pbt", "ppo", "--lr", "1e-5:1e-2", "--populaton", "8"], "unknown flag --populaton for jaxrl pbt ppo"),
    (
        ["train", "ppo", "--num-envs", "6", "--env-groups", "4"],
        "invalid --num-envs 6: --env-groups 4 steps them as 4 pools of equal size: give a multiple of 4",
    ),
    (["train", "ppo", "--env-threads", "100000"], "invalid --env-threads 100000: this machine has"),
    (["train", "ppo", "--env-threads", "-1"], "invalid --env-threads -1: must be an integer >= 0"),
    (["train", "ppo", "--env-groups", "0"], "invalid --env-groups 0: must be an integer >= 1"),
    (
        ["train", "ppo", "--env-groups", "2", "--env-threads", "1"],
        "invalid --env-threads 1: the 2 pools of --env-groups share it equally",
    ),
    (
        ["train", "ppo", "--env", "Breakout-MinAtar", "--env-groups", "2"],
        "--env-groups 2: only EnvPool's pools are pipelined (this env runs on gymnax)",
    ),
]


@pytest.mark.parametrize("argv, message", BAD_INPUTS, ids=[" ".join(a[1:]) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, message, tmp_path, capsys):
    assert main([*argv, "--logdir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"jaxrl: error: {err.strip().removeprefix('jaxrl: error: ')}"]
    assert message in err
    assert not (tmp_path / "runs").exists()


BAD_COMMANDS = [
    ([], "no command (jaxrl train | sweep | pbt | eval | compare | export)"),
    (["eval", "RUN", "--episode", "3"], "unknown flag --episode for jaxrl eval; did you mean --episodes?"),
    (["eval", "--episodes", "3"], "jaxrl eval needs a RUN_DIR"),
    (
        ["eval", "RUN", "--stochastic", "True"],
        "jaxrl eval takes one RUN_DIR, not RUN True (--stochastic and --video take no value)",
    ),
    (["eval", "RUN", "--video=1"], "--video is a switch and takes no value"),
    (["eval", "RUN", "--run"], "--run needs a value"),
    (["compare", "--out", "x"], "jaxrl compare needs a RUN_DIR"),
    (["export", "--member", "1"], "jaxrl export needs a RUN_DIR"),
    (["export", "RUN", "--force", "True"], "jaxrl export takes one RUN_DIR, not RUN True (--force takes no value)"),
    (["export", "RUN", "--episodes", "x"], "invalid --episodes 'x': expected int"),
]


@pytest.mark.parametrize("argv, message", BAD_COMMANDS, ids=[" ".join(a) for a, _ in BAD_COMMANDS])
def test_bad_eval_and_compare_commands_are_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == f"jaxrl: error: {message}"


CONFIG_FILES = {
    "invalid JSON": ("{not json", "invalid JSON"),
    "unknown keys": (json.dumps({"algo": "ppo", "lerning_rate": 1.0}), "unknown keys lerning_rate"),
    "other algorithm": (json.dumps({"algo": "dqn"}), "is for algorithm 'dqn', not 'ppo'"),
    "missing": (None, "no such file"),
    "a number for a list": (json.dumps({"hidden": 64}), "hidden must be a list of integers, not 64"),
    "a number for the env": (json.dumps({"env": 5}), "env must be a string, not 5"),
    "text for a bool": (json.dumps({"checkpoint_replay": "no"}), 'checkpoint_replay must be true or false, not "no"'),
    "a bool for a number": (json.dumps({"lr": True}), "lr must be a number, not true"),
    "a section not an object": (json.dumps({"static": 3}), "static must be a JSON object"),
}


@pytest.mark.parametrize("case", list(CONFIG_FILES))
def test_a_bad_config_file_is_one_line_exit_2(tmp_path, capsys, case):
    text, message = CONFIG_FILES[case]
    path = tmp_path / "config.json"
    if text is not None:
        path.write_text(text)
    assert main(["train", "ppo", "--config", str(path), "--logdir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "runs").exists()


def test_an_atari_id_without_its_rom_is_one_line(tmp_path, capsys, monkeypatch):
    from jaxrl.envs import envpool as envpool_backend

    monkeypatch.setattr(envpool_backend, "rom_dir", lambda: tmp_path)  # an EnvPool install without ROMs
    assert main(["train", "ppo", "--env", "Pong", "--logdir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"jaxrl: error: Pong-v5: no ROM pong.bin in EnvPool's ROM folder {tmp_path}; reinstall envpool"
    assert not (tmp_path / "runs").exists()


def test_a_video_mujoco_cannot_render_is_one_line_before_anything_is_written(tmp_path):
    # MUJOCO_GL names the headless GL backend; one that does not exist stands for a machine without EGL or OSMesa
    env = dict(os.environ, CI="true", MUJOCO_GL="nosuchgl")
    argv = ["train", "sac", "--env", "HalfCheetah-v5", "--capture-video", "1000", "--logdir", str(tmp_path / "runs")]
    result = subprocess.run(
        [sys.executable, "-m", "jaxrl.cli", *argv], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "jaxrl: error: --capture-video: cannot render HalfCheetah-v5 on this machine"
    ), lines
    assert "EGL or OSMesa" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_train_writes_config_tensorboard_and_summary_and_repeats_exactly(tmp_path):
    runs = tmp_path / "runs"
    first = jaxrl("train", "ppo", "--env", "CartPole", "--seeds", "2", "--logdir", str(runs), "--name", "a", *FAST)
    assert first.returncode == 0, first.stderr
    assert "ppo on CartPole-v1" in first.stdout.splitlines()[-1]
    run_dir = runs / "CartPole-v1" / "ppo" / "a"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["hyper"]["lr"] == 3e-3 and config["static"]["num_envs"] == 8 and config["seeds"] == 2
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [run["run"] for run in summary["runs"]] == ["s0", "s1"]
    assert {"run", "seed", "hyper", "final_return", "env_steps", "steps_to_target", "seconds_to_target"} <= set(
        summary["runs"][0]
    )
    assert summary["runs"][0]["env_steps"] == 2560
    for member in ("s0", "s1"):
        assert list((run_dir / member).glob("events.out.tfevents.*"))

    again = jaxrl("train", "ppo", "--config", str(run_dir / "config.json"), "--name", "a")
    assert again.returncode == 0, again.stderr
    repeat_dir = runs / "CartPole-v1" / "ppo" / "a-2"  # an existing run is never overwritten
    assert json.loads((repeat_dir / "config.json").read_text()) == {**config, "name": "a"}
    repeat = json.loads((repeat_dir / "summary.json").read_text())
    assert [r["final_return"] for r in repeat["runs"]] == [r["final_return"] for r in summary["runs"]]


def test_tensorboard_scalars_use_cleanrl_names_and_env_step_axis(tmp_path):
    result = jaxrl("train", "ppo", "--logdir", str(tmp_path), "--name", "tb", *FAST)
    assert result.returncode == 0, result.stderr
    tags, steps = read_scalars(Path(tmp_path, "CartPole-v1", "ppo", "tb", "s0"))
    for tag in (
        "charts/episodic_return",
        "charts/episodic_length",
        "charts/SPS",
        "losses/value_loss",
        "losses/policy_loss",
        "losses/entropy",
        "losses/approx_kl",
        "charts/recent_return",
        "hparams/final_return",
    ):
        assert tag in tags, tag
    assert max(steps["losses/value_loss"]) == 2560 and min(steps["losses/value_loss"]) == 256


def read_scalars(path):
    """{tag}, {tag: [steps]} of one member's TensorBoard run."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    events = EventAccumulator(str(path), size_guidance={SCALARS: 0}).Reload()
    tags = set(events.Tags()[SCALARS])
    return tags, {tag: [event.step for event in events.Scalars(tag)] for tag in tags}


def test_resume_takes_only_the_distributed_and_force_switches():
    from jaxrl.cli import resume_argv

    assert resume_argv(["train", "--resume", "RUN"]) == ("RUN", None, {"distributed": False, "force": False})
    assert resume_argv(["train", "ppo", "--resume=RUN", "--force", "True", "--distributed=True"]) == (
        "RUN",
        "ppo",
        {"distributed": True, "force": True},
    )
    for argv in (["train", "--resume", "RUN", "--force", "maybe"], ["train", "--resume", "RUN", "--lr", "1"]):
        with pytest.raises(ConfigError, match="takes nothing else"):
            resume_argv(argv)
