"""Runs that survive: checkpoints, resume after kill -9 or a signal, determinism, the NaN guard,
and a resume that refills a replay left out of its checkpoints."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jaxrl.algos import get_algorithm
from jaxrl.config import resolve
from jaxrl.logs.tensorboard import EVENT_FILES, event_records
from jaxrl.training import checkpoints
from tests.conftest import train

pytestmark = pytest.mark.slow

# CartPole PPO, 256 env steps per iteration; a target above CartPole's maximum of 500 keeps a
# run going for its whole budget.
LONG_RUN = ["--total-steps", "30720", "--log-every", "512", "--checkpoint-every", "1024", "--target-return", "1000"]


def start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    env = dict(os.environ, CI="true")
    command = [sys.executable, "-m", "jaxrl.cli", "train", "ppo", "--logdir", str(tmp_path), "--name", "r", *args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, tmp_path / "CartPole-v1" / "ppo" / "r"


def resume(run_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, CI="true")
    command = [sys.executable, "-m", "jaxrl.cli", "train", "--resume", str(run_dir)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def wait_for_checkpoint(run_dir: Path, process: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    folder = run_dir / "checkpoints"
    while not (folder.is_dir() and any(path.name.isdigit() for path in folder.iterdir())):
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.05)


def logged_steps(member_dir: Path, tag: str = "losses/value_loss") -> list[int]:
    """Every env step at which `tag` was logged, across the member's event files, in file order."""
    from tensorboardX.proto.event_pb2 import Event

    steps = []
    for path in sorted(member_dir.glob(EVENT_FILES)):
        for raw in event_records(path):
            event = Event.FromString(raw)
            if any(value.tag == tag for value in event.summary.value):
                steps.append(event.step)
    return steps


def saved_arrays(run_dir: Path, step: int | None = None) -> dict:
    """A checkpoint's arrays as saved (nested dicts), read onto this process's first device
    whatever wrote them (one process, or several)."""
    import jax
    import orbax.checkpoint as ocp

    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    with checkpoints.manager(run_dir) as manager:
        step = manager.latest_step() if step is None else step
        saved = manager.item_metadata(step)["state"].tree
        like = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=device), saved)
        args = ocp.args.PyTreeRestore(item=like, restore_args=ocp.checkpoint_utils.construct_restore_args(like))
        return manager.restore(step, args=ocp.args.Composite(state=args))["state"]


@pytest.mark.parametrize("attempt", range(3))
def test_kill_9_at_a_random_moment_then_resume_completes_without_gaps_or_duplicates(tmp_path, attempt):
    process, run_dir = start(tmp_path, *LONG_RUN)
    wait_for_checkpoint(run_dir, process)
    time.sleep(random.Random(attempt).uniform(0.0, 1.5))
    process.kill()  # SIGKILL: no handler runs, a checkpoint or event write may be cut anywhere
    process.wait()

    result = resume(run_dir)
    assert result.returncode == 0, result.stderr
    assert checkpoints.latest_step(run_dir) == 30720
    assert all(np.isfinite(leaf).all() for leaf in jax_leaves(saved_arrays(run_dir)["agent"]["params"]))
    assert logged_steps(run_dir / "s0") == list(range(256, 30721, 256))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["interrupted_by"] is None and summary["runs"][0]["env_steps"] == 30720


def test_a_run_killed_before_its_first_checkpoint_trains_again_from_the_start(finished_run, tmp_path):
    """No checkpoint yet (and a checkpoint a kill cut short): the resume starts the run over in
    its own dir, logs cut back to the start, and ends exactly as the uninterrupted run did."""
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    shutil.rmtree(run_dir / "checkpoints")
    (run_dir / "checkpoints" / "256.orbax-checkpoint-tmp-1234").mkdir(parents=True)  # cut short by a kill
    (run_dir / "summary.json").unlink()
    result = resume(run_dir)
    assert result.returncode == 0, result.stderr
    assert "removed the checkpoint at env step 256 that a kill cut short" in result.stderr
    assert "has no checkpoint yet: training it from the start" in result.stderr
    assert "WARNING" not in result.stderr  # jaxrl's lines, not orbax's
    assert not list((run_dir / "checkpoints").glob("*orbax-checkpoint-tmp*"))
    uninterrupted = json.loads((finished_run / "summary.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [run["final_return"] for run in summary["runs"]] == [run["final_return"] for run in uninterrupted["runs"]]
    assert logged_steps(run_dir / "s0") == logged_steps(finished_run / "s0") == [256, 512]
    for resumed, uninterrupted in zip(
        jax_leaves(saved_arrays(run_dir)), jax_leaves(saved_arrays(finished_run)), strict=True
    ):
        np.testing.assert_array_equal(resumed, uninterrupted)


@pytest.mark.parametrize("attempt", range(3))
def test_kill_9_at_any_moment_once_the_run_dir_exists_then_resume_completes(tmp_path, attempt):
    """A kill at any moment once the run dir exists, before the first checkpoint included: the run
    resumes and completes (experiments/bench.py --only kill-resume kills 20 times from the very
    start, before the run dir exists too)."""
    process, run_dir = start(tmp_path, "--total-steps", "4096", "--log-every", "512", "--target-return", "1000")
    while not run_dir.exists():  # then a moment from set-up to the end, the only checkpoint's write included
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.01)
    time.sleep(random.Random(attempt).uniform(0.0, 3.0))
    process.kill()
    process.wait()
    result = resume(run_dir)
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["interrupted_by"] is None and summary["runs"][0]["env_steps"] == 4096
    assert logged_steps(run_dir / "s0") == list(range(256, 4097, 256))


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_writes_a_checkpoint_and_exits_128_plus_its_number(tmp_path, signum, status):
    process, run_dir = start(tmp_path, *LONG_RUN)
    wait_for_checkpoint(run_dir, process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == status, stderr
    assert f"Resume with: jaxrl train --resume {run_dir}" in stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    stopped_at = summary["runs"][0]["env_steps"]
    assert summary["interrupted_by"] == signal.Signals(signum).name and stopped_at < 30720
    assert checkpoints.latest_step(run_dir) == stopped_at  # the last chunk's state, not an older one
    assert logged_steps(run_dir / "s0") == list(range(256, stopped_at + 1, 256))


def ppo_config(tmp_path, name, **options):
    return resolve(get_algorithm("ppo"), {"logdir": str(tmp_path), "name": name, **options})


def test_resume_from_a_mid_run_checkpoint_solves_cartpole_like_an_uninterrupted_run(tmp_path):
    config = ppo_config(tmp_path, "stopped")  # the preset: stop once the last 20 episodes average 475
    stopped = train(config, should_stop=lambda env_steps: env_steps >= 10240)
    assert stopped["interrupted_by"] == "request" and stopped["runs"][0]["steps_to_target"] is None

    summary = train(config, resume=stopped["run_dir"])
    assert summary["interrupted_by"] is None
    assert summary["runs"][0]["steps_to_target"] is not None and summary["runs"][0]["final_return"] >= 475


def test_a_stop_asked_for_as_the_last_chunk_ends_leaves_a_complete_run(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = ppo_config(tmp_path, "late", total_steps=1024, log_every=512, target_return=1000.0)
    summary = train(config, should_stop=lambda env_steps: env_steps >= 1024)
    assert summary["interrupted_by"] is None
    events = EventAccumulator(str(Path(summary["run_dir"]) / "s0")).Reload()
    assert "hparams/final_return" in events.Tags()["scalars"]


def test_same_command_same_seed_gives_the_same_summary_and_checkpoint(tmp_path):
    options = dict(seeds=2, total_steps=5120, log_every=1280, checkpoint_every=2560)
    runs = [train(ppo_config(tmp_path, name, **options)) for name in ("a", "b")]
    clock = ("wall_s", "run_dir", "seconds_to_target", "compile_s", "memory")  # (memory: resident bytes)

    def without_clock(summary):
        return json.loads(json.dumps(summary), object_hook=lambda d: {k: v for k, v in d.items() if k not in clock})

    first, second = (json.loads((Path(run["run_dir"]) / "summary.json").read_text()) for run in runs)
    assert without_clock(first) == without_clock(second)
    for step in (2560, 5120):
        arrays = [saved_arrays(Path(run["run_dir"]), step) for run in runs]
        leaves = [jax_leaves(a) for a in arrays]
        assert len(leaves[0]) == len(leaves[1]) > 0
        for x, y in zip(*leaves, strict=True):
            np.testing.assert_array_equal(x, y)


def jax_leaves(tree):
    import jax

    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def test_the_nan_guard_names_member_and_step_and_leaves_finite_checkpoints(tmp_path):
    process, run_dir = start(tmp_path, "--lr", "1e30", "--total-steps", "2560", "--checkpoint-every", "256")
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1
    assert "s0 diverged at env step 256" in stderr and "every member diverged" in stderr
    params = saved_arrays(run_dir)["agent"]["params"]
    assert all(np.isfinite(leaf).all() for leaf in jax_leaves(params))


def dqn_config(tmp_path, name, **options):
    budget = dict(total_steps=4096, learning_starts=1024, buffer_size=4096, log_every=512, target_return=None)
    return resolve(get_algorithm("dqn"), {"logdir": str(tmp_path), "name": name, **budget, **options})


def test_a_replay_left_out_of_checkpoints_is_refilled_before_learning_resumes(tmp_path, capsys):
    config = dqn_config(tmp_path, "no-replay", checkpoint_replay=False)
    stopped = train(config, should_stop=lambda env_steps: env_steps >= 2048)
    run_dir = Path(stopped["run_dir"])
    assert saved_arrays(run_dir)["agent"].get("replay") is None
    assert not (run_dir / "checkpoints" / str(checkpoints.latest_step(run_dir)) / "replay").exists()

    train(config, resume=run_dir, progress=True)
    assert "the replay was not checkpointed: learning waits until it refills" in capsys.readouterr().err
    losses = dict(zip(logged_steps(run_dir / "s0", "losses/td_loss"), td_losses(run_dir / "s0"), strict=True))
    assert all(losses[step] == 0.0 for step in range(2304, 2048 + 1024 + 1, 256))  # refilling: no update
    assert all(losses[step] > 0.0 for step in range(2048 + 1024 + 256, 4097, 256))  # learning again


def td_losses(member_dir: Path) -> list[float]:
    from tensorboardX.proto.event_pb2 import Event

    values = []
    for path in sorted(member_dir.glob(EVENT_FILES)):
        for raw in event_records(path):
            values += [v.simple_value for v in Event.FromString(raw).summary.value if v.tag == "losses/td_loss"]
    return values


def saved_replay(run_dir: Path) -> dict:
    """The latest checkpoint's replay files, by array name (one group of members: the whole population)."""
    folder = run_dir / "checkpoints" / str(checkpoints.latest_step(run_dir)) / "replay"
    return {path.name.split(".")[0]: np.load(path) for path in folder.glob("*.npy")}


def test_a_checkpointed_replay_comes_back_and_goes_on_filling(tmp_path):
    config = dqn_config(tmp_path, "replay")
    stopped = train(config, should_stop=lambda env_steps: env_steps >= 2048)
    run_dir = Path(stopped["run_dir"])
    saved = saved_replay(run_dir)
    assert int(saved["count"][0]) == 2048 // 8  # steps per env
    assert (
        saved["obs"].shape[:2] == (1, 4096 // 8 + 1) and saved["valid"][0, : 2048 // 8 - 1].mean() > 0.9
    )  # reset steps aside

    summary = train(config, resume=run_dir)
    assert summary["interrupted_by"] is None and summary["runs"][0]["env_steps"] == 4096
    resumed = saved_replay(run_dir)
    assert int(resumed["count"][0]) == 4096 // 8
    # what was stored before the stop is still there (but for each env's last step: its next obs was lost)
    np.testing.assert_array_equal(resumed["obs"][0, : 2048 // 8 - 1], saved["obs"][0, : 2048 // 8 - 1])
    assert not resumed["valid"][0, 2048 // 8 - 1].any()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    config = ppo_config(tmp_path_factory.mktemp("runs"), "done", total_steps=512, log_every=256)
    return Path(train(config)["run_dir"])


def damage_arrays(run_dir: Path) -> None:
    step_dir = run_dir / "checkpoints" / str(checkpoints.latest_step(run_dir)) / "state"
    for path in step_dir.rglob("*"):
        if path.is_file() and "metadata" not in path.name.lower():
            path.write_bytes(b"\0garbage")


def edited_static(**fields):
    """A damage: config.json's static settings changed to `fields` (the checkpoint left as it was)."""

    def damage(run_dir: Path) -> None:
        config = json.loads((run_dir / "config.json").read_text())
        config["static"].update(fields)
        (run_dir / "config.json").write_text(json.dumps(config))

    return damage


narrower_network = edited_static(hidden=[32, 32])


BAD_RESUMES = {
    "missing dir": (None, lambda run_dir: run_dir / "nope", "no such run directory"),
    "not a run dir": (None, lambda run_dir: run_dir / "s0", "no config.json in it (not a jaxrl run directory)"),
    "invalid config.json": (
        lambda run_dir: (run_dir / "config.json").write_text("{oops"),
        None,
        "config.json is damaged (JSONDecodeError",
    ),
    "damaged checkpoint": (damage_arrays, None, "is damaged or does not fit this run: DATA_LOSS"),
    "other network": (
        narrower_network,
        None,
        "does not fit this run (another algorithm, env or network?): agent/opt_state/",  # Adam's moments first
    ),
    "recurrent over a feed-forward checkpoint": (
        edited_static(recurrent="gru"),
        None,
        "it was made without a carry (feed-forward): it cannot resume with --recurrent",
    ),
}


@pytest.mark.parametrize("case", list(BAD_RESUMES))
def test_a_bad_resume_is_one_line_exit_2_and_changes_nothing(finished_run, tmp_path, case, capsys):
    from jaxrl.cli import main

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    damage, target, message = BAD_RESUMES[case]
    if damage:
        damage(run_dir)
    before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    assert main(["train", "--resume", str(target(run_dir) if target else run_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("jaxrl: error: ") and message in err, err
    assert case == "damaged checkpoint" or "damaged or does not fit" not in err, err
    assert {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()} == before


def test_a_recurrent_checkpoint_refuses_to_resume_feed_forward_in_one_line(tmp_path, capsys):
    from jaxrl.cli import main

    options = {"total_steps": 512, "log_every": 256, "recurrent": "gru", "recurrent_size": 8}
    run_dir = Path(train(ppo_config(tmp_path, "recurrent", env="CartPole", backend="gymnax", **options))["run_dir"])
    edited_static(recurrent="none")(run_dir)
    assert main(["train", "--resume", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "it holds a recurrent agent's carry: it cannot resume with" in err, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--resume", "RUN", "--lr", "1"], "--resume continues a run with its saved settings"),
        (["train", "dqn", "--resume", "RUN"], "the run is ppo, not dqn"),
    ],
)
def test_resume_takes_the_saved_settings_only(finished_run, argv, message, capsys):
    from jaxrl.cli import main

    assert main([str(finished_run) if word == "RUN" else word for word in argv]) == 2
    assert message in capsys.readouterr().err


def test_eval_reads_a_dqn_checkpoint_without_its_replay(tmp_path, capsys):
    from jaxrl.cli import main

    run_dir = Path(train(dqn_config(tmp_path, "eval"))["run_dir"])
    assert "replay" in saved_arrays(run_dir)["agent"]  # the checkpoint holds it ...
    assert main(["eval", str(run_dir), "--episodes", "2"]) == 0  # ... and eval restores without it
    assert "s0: return " in capsys.readouterr().out
    result = json.loads((run_dir / "eval.json").read_text())
    assert len(result["members"]["s0"]["returns"]) == 2


def test_a_checkpoint_of_flax_recurrent_cells_is_named_in_one_line():
    """A recurrent core saved by an older jaxrl (flax's GRUCell under nn.scan, its arrays' paths
    as that jaxrl wrote them) against today's fused cell: refused by name, not by a stray array."""
    torso = "agent/params/params/RecurrentTorso_0/ScannedCell_0/"
    old = {f"{torso}scan/cell/{gate}/kernel": ((8, 8), "float32") for gate in ("ir", "iz", "in", "hr", "hz", "hn")}
    new = {f"{torso}input/kernel": ((8, 24), "float32"), f"{torso}recurrent_kernel": ((8, 24), "float32")}
    assert checkpoints.mismatch(old, new) == (
        "its recurrent core is in flax's cell layout (an older jaxrl): this jaxrl's fused cells cannot read it"
    )
    assert checkpoints.mismatch(new, new) is None
