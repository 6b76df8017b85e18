"""Videos of multi-agent games: MPE and SMAX are drawn from the pool's state (every entity, in
its own colour; SMAX's living units only); `jaxrl eval --video` and `--capture-video` record a
trained team's game; a JaxMARL game jaxrl does not draw is refused in one line."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest

pytest.importorskip("jaxmarl")

import jaxrl  # noqa: E402
from jaxrl.cli import main  # noqa: E402
from jaxrl.envs import jaxmarl as backend  # noqa: E402
from jaxrl.errors import ConfigError  # noqa: E402


def pixels_of(frame: np.ndarray, colour) -> int:
    return int((frame == np.asarray(colour, np.uint8)).all(axis=-1).sum())


def test_an_mpe_frame_shows_every_entity_where_it_is():
    """simple_spread's 3 agents (green, radius 0.15) and 3 landmarks (grey, 0.05) on a 4 x 4 window
    of 256 pixels: an agent covers ~pi (0.15 * 64)^2 ~ 290 pixels; moving the agents moves them."""
    pool = backend.make("MPE_simple_spread_v3", list(range(3)))
    handle, _ = pool.reset()
    frame = pool.draw(handle)
    assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8
    agent_colour, landmark_colour = (115, 243, 115), (64, 64, 64)
    assert 3 * 200 < pixels_of(frame, agent_colour) <= 3 * 300  # landmarks may sit on top of agents
    assert 0 < pixels_of(frame, landmark_colour) <= 3 * 40
    away = handle.state.replace(p_pos=handle.state.p_pos.at[:, :3].set(-1.5))  # the agents to one corner
    moved = pool.draw(handle._replace(state=away))
    corner = moved[256 - 64 - 20 : 256 - 64 + 20, 64 - 20 : 64 + 20]  # (-1.5, -1.5) is pixel (224, 32)
    assert pixels_of(moved, agent_colour) < pixels_of(frame, agent_colour)  # three discs on one
    assert pixels_of(corner, agent_colour) == 0 and pixels_of(moved[192:256, 0:64], agent_colour) > 200


def test_a_smax_frame_shows_the_living_units_of_each_team():
    """3m: three marines a side, allies blue and enemies green at full health; a dead unit is gone."""
    pool = backend.make("SMAX-3m", list(range(3)))
    handle, _ = pool.reset()
    frame = pool.draw(handle)
    ally, enemy = backend.SMAX_COLOURS
    allies, enemies = pixels_of(frame, ally), pixels_of(frame, enemy)
    assert allies > 0 and enemies > 0
    game = handle.state.state  # SMAX's state inside its heuristic enemy's
    dead = game.replace(unit_alive=game.unit_alive.at[:, 0].set(False))
    fewer = pool.draw(handle._replace(state=handle.state.replace(state=dead)))
    assert 0 < pixels_of(fewer, ally) < allies and pixels_of(fewer, enemy) == enemies


def test_a_game_jaxrl_does_not_draw_is_refused_in_one_line():
    with pytest.raises(
        ConfigError, match="^--capture-video: cannot draw coin_game: jaxrl draws JaxMARL's MPE and SMAX"
    ):
        jaxrl.train("ippo", env="coin_game", capture_video=1000, total_steps=1024)


@pytest.mark.slow
@pytest.mark.parametrize(("algo", "env_id"), [("ippo", "MPE_simple_spread_v3"), ("mappo", "SMAX-3m")])
def test_eval_video_and_capture_video_of_a_team(algo, env_id, tmp_path):
    """A short run records its videos while training (`--capture-video`), then `jaxrl eval
    --video` writes one game of the team: the reset's frame and one per step but the last, and the return it reports is the team's, the sum of its agents'."""
    run = jaxrl.train(
        algo, env=env_id, seeds=1, total_steps=1536, num_envs=12, rollout_steps=64, num_minibatches=2,
        update_epochs=1, log_every=768, capture_video=768, logdir=str(tmp_path),
    )  # fmt: skip
    run_dir = Path(run.summary["run_dir"])
    assert sorted(path.name for path in (run_dir / "videos").iterdir()) == ["s0-step1536.mp4", "s0-step768.mp4"]
    assert main(["eval", str(run_dir), "--episodes", "1", "--video"]) == 0
    result = json.loads((run_dir / "eval.json").read_text())
    import imageio.v3 as iio

    video = result["videos"]["s0"]
    frames = iio.imread(video["path"])
    assert frames.shape[1:] == (256, 256, 3) and frames.dtype == np.uint8
    if env_id.startswith("MPE"):
        # the reset, then the states after the game's 26 steps (its eval length) but the last,
        # which is the next game's start
        assert frames.shape[0] == 26
        assert result["members"]["s0"]["lengths"] == [26, 26, 26]
    # the video's game is the first evaluated game: the same seed, greedy
    assert video["return"] == pytest.approx(sum(result["members"]["s0"]["returns"]), rel=1e-5)
    jax.clear_caches()
