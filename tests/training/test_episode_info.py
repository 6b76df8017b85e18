"""Per-episode scalars an env reports in its info (named like a tag) reach the logs as their mean
over each iteration's ended episodes, and summary.json as the last chunk's mean."""

import numpy as np

import jaxrl
from tests.conftest import ChunkRecorder
from tests.envs import probes


def test_a_tagged_info_entry_is_logged_as_its_mean_over_ended_episodes(tmp_path):
    kept = ChunkRecorder()
    options = dict(num_envs=4, rollout_steps=16, log_every=128, total_steps=256, seeds=2, logdir=str(tmp_path))
    result = jaxrl.train("ppo", env=probes.Reporting(), env_params=probes.Params(horizon=4), loggers=[kept], **options)
    metrics = {
        key: np.concatenate([chunk[key] for chunk in kept.chunks])
        for key in kept.chunks[0]
        if not key.startswith("time/")
    }
    assert "untagged" not in metrics and not any(key.startswith("episode_sum:") for key in metrics)
    # the env's own count of each episode's steps equals the runner's
    recount = metrics["episode_length_sum"] / metrics["episodes_ended"]
    np.testing.assert_allclose(metrics["probe/length"], recount, rtol=1e-6)
    assert 1 <= np.nanmin(metrics["probe/length"]) and np.nanmax(metrics["probe/length"]) <= 4
    last = kept.chunks[-1]
    expected = last["episode_length_sum"].sum(axis=0) / last["episodes_ended"].sum(axis=0)
    reported = [run["episode_info"]["probe/length"] for run in result.summary["runs"]]
    np.testing.assert_allclose(reported, expected, rtol=1e-6)
