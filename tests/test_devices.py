"""Several local devices (XLA's forced host devices on CPU): the population is split over them
automatically, and member k trains as it does on one device."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxrl.fleet import group_count, join_members, slice_members

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


def train_on(tmp_path: Path, devices: int, name: str) -> Path:
    env = dict(os.environ, CI="true", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    command = [
        sys.executable, "-m", "jaxrl.cli", "train", "ppo", "--seeds", "4", "--total-steps", "1024",
        "--log-every", "512", "--target-return", "1000", "--logdir", str(tmp_path), "--name", name,
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    if devices > 1:
        assert f"4 members over {devices} devices" in result.stderr
    return tmp_path / "CartPole-v1" / "ppo" / name


@pytest.mark.parametrize("devices", [4, 2])
def test_a_population_over_several_devices_trains_as_on_one(tmp_path, devices):
    import jax

    from tests.test_checkpoints import saved_arrays

    one, several = train_on(tmp_path, 1, "one"), train_on(tmp_path, devices, "several")
    summaries = [json.loads((run / "summary.json").read_text())["runs"] for run in (one, several)]
    for a, b in zip(*summaries, strict=True):
        assert a["run"] == b["run"] and a["env_steps"] == b["env_steps"] == 1024
        np.testing.assert_allclose(a["final_return"], b["final_return"], rtol=1e-5)
    params = [saved_arrays(run)["agent"]["params"] for run in (one, several)]
    for a, b in zip(*(jax.tree.leaves(p) for p in params), strict=True):
        assert a.shape[0] == 4
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
