"""Several local devices (XLA's forced host devices on CPU): the population is split over them
automatically, and member k trains as it does on one device."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxrl.training.fleet import group_count, join_members, slice_members

pytestmark = pytest.mark.slow


def test_group_count_takes_the_most_devices_that_split_the_population_evenly():
    assert group_count(4, 4) == 4
    assert group_count(4, 8) == 4
    assert group_count(6, 4) == 3
    assert group_count(5, 4) == 1
    assert group_count(1, 8) == 1


def test_slicing_and_joining_members_round_trips_and_keeps_the_step_counter():
    tree = {"params": np.arange(12.0).reshape(4, 3), "env_steps": np.int32(256), "replay": None}
    parts = [slice_members(tree, range(start, start + 2)) for start in (0, 2)]
    joined = join_members(parts)
    np.testing.assert_array_equal(joined["params"], tree["params"])
    assert joined["env_steps"] == 256 and joined["replay"] is None


TRAIN_4 = ["train", "ppo", "--seeds", "4", "--total-steps", "1024"]


def train_on(tmp_path: Path, devices: int, name: str, words: list[str] = TRAIN_4) -> Path:
    env = dict(os.environ, CI="true", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    command = [
        sys.executable, "-m", "jaxrl.cli", *words, "--log-every", "512", "--target-return", "1000",
        "--logdir", str(tmp_path), "--name", name,
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    if devices > 1:
        assert f"4 members over {devices} devices" in result.stderr
    return tmp_path / "CartPole-v1" / "ppo" / name


@pytest.mark.parametrize("devices", [4, 2])
def test_a_population_over_several_devices_trains_as_on_one(tmp_path, devices):
    import jax

    from tests.training.test_checkpoints import saved_arrays

    one, several = train_on(tmp_path, 1, "one"), train_on(tmp_path, devices, "several")
    summaries = [json.loads((run / "summary.json").read_text())["runs"] for run in (one, several)]
    for a, b in zip(*summaries, strict=True):
        assert a["run"] == b["run"] and a["env_steps"] == b["env_steps"] == 1024
        np.testing.assert_allclose(a["final_return"], b["final_return"], rtol=1e-5)
    params = [saved_arrays(run)["agent"]["params"] for run in (one, several)]
    for a, b in zip(*(jax.tree.leaves(p) for p in params), strict=True):
        assert a.shape[0] == 4
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_pbt_over_two_devices_copies_between_them_as_on_one(tmp_path):
    """PBT's exploit step copies a parent on one device into a child on the other: the same
    decisions, lineage and (up to float order) networks as on one device."""
    import jax

    from tests.training.test_checkpoints import saved_arrays

    words = [
        "pbt",
        "ppo",
        "--population",
        "4",
        "--lr",
        "1e-4:1e-2:log",
        "--ready-every",
        "512",
        "--total-steps",
        "2048",
    ]
    one, two = train_on(tmp_path, 1, "one", words), train_on(tmp_path, 2, "two", words)
    lineages = [json.loads((run / "summary.json").read_text())["pbt"]["lineage"] for run in (one, two)]
    assert lineages[0] == lineages[1]
    copies = [(member, event["parent"]) for member, events in enumerate(lineages[0].values()) for event in events[1:]]
    assert any(child // 2 != parent // 2 for child, parent in copies)  # (members 0-1 on one device, 2-3 the other)
    params = [saved_arrays(run)["agent"]["params"] for run in (one, two)]
    for a, b in zip(*(jax.tree.leaves(p) for p in params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def start_processes(command: list[str], port: int) -> list[subprocess.Popen]:
    def env(index):
        return dict(
            os.environ, CI="true", JAX_COORDINATOR_ADDRESS=f"localhost:{port}", JAX_NUM_PROCESSES="2",
            JAX_PROCESS_ID=str(index),
        )  # fmt: skip

    return [
        subprocess.Popen(command, env=env(index), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for index in range(2)
    ]


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def test_two_processes_on_localhost_train_one_run_and_resume_it(tmp_path):
    """`--distributed` on CPU: two processes meet through jax.distributed.initialize, each trains
    two of four members into the same run; the checkpoint holds all four, member k equals
    member k of a one-process run, and a SIGINT to one process stops both at the same chunk,
    after which the pair resumes to the end."""
    import signal
    import time

    import jax

    from tests.training.test_checkpoints import logged_steps, saved_arrays

    flags = ["--seeds", "4", "--total-steps", "4096", "--log-every", "512", "--target-return", "1000",
             "--checkpoint-every", "512", "--keep-checkpoints", "10"]  # fmt: skip
    command = [sys.executable, "-m", "jaxrl.cli", "train", "ppo", *flags, "--logdir", str(tmp_path)]
    single = subprocess.run(
        [*command, "--name", "one"], env=dict(os.environ, CI="true"), capture_output=True, timeout=600
    )
    assert single.returncode == 0, single.stderr

    root = tmp_path / "CartPole-v1" / "ppo"
    processes = start_processes(
        [*command, "--name", "d", "--distributed", "True", "--checkpoint-every", "512"], free_port()
    )
    while not (root / "d" / "checkpoints" / "1024").is_dir():
        assert all(process.poll() is None for process in processes)
        time.sleep(0.05)
    processes[1].send_signal(signal.SIGINT)  # one process is interrupted: both stop at the same chunk
    for process in processes:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 130, stderr
    stopped = json.loads((root / "d" / "summary.json").read_text())
    assert stopped["interrupted_by"] == "SIGINT" and stopped["runs"][0]["env_steps"] < 4096

    resume = [sys.executable, "-m", "jaxrl.cli", "train", "--resume", str(root / "d"), "--distributed", "True"]
    for process in start_processes(resume, free_port()):
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
    summary = json.loads((root / "d" / "summary.json").read_text())
    assert [run["run"] for run in summary["runs"]] == ["s0", "s1", "s2", "s3"]
    assert summary["interrupted_by"] is None and summary["runs"][0]["env_steps"] == 4096
    for member in ("s0", "s3"):
        assert logged_steps(root / "d" / member) == list(range(256, 4097, 256))
    params = saved_arrays(root / "d")["agent"]["params"]
    assert all(leaf.shape[0] == 4 and np.isfinite(leaf).all() for leaf in jax.tree.leaves(params))
    one = saved_arrays(root / "one", 1024)["agent"]["params"]
    first = saved_arrays(root / "d", 1024)["agent"]["params"]
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(one), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)  # before the resume: the same training
