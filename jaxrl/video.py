"""Videos of an agent playing: one game rendered through gymnasium (EnvPool does not render),
written as MP4 (H.264, imageio-ffmpeg) or, where no encoder is installed, as an animated GIF,
and logged to TensorBoard as an animated GIF (its Images tab plays them).
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

# ~1 GB of Atari frames in colour: a longer game is cut there (and one without a time limit ends).
MAX_VIDEO_FRAMES = 10_000


def record_game(agent, member_state, env_id: str, seed: int, stochastic: bool, **options):
    """Plays one game with one member (its state without the population axis), without reward
    clipping or episodic life, up to MAX_VIDEO_FRAMES frames; returns (frames [T, H, W, 3] uint8,
    fps, the return over those frames). Atari renders in colour, one frame per agent step: fps is
    the game's rate over the frame skip."""
    from jaxrl.envs.gymnasium import make_game
    from jaxrl.evaluate import action_fn

    game, fps = make_game(env_id, render=True, **dict(options, episodic_life=False, reward_clip=False))
    act = jax.jit(lambda state, obs, key: action_fn(agent, stochastic)(state, obs[None], key)[0])
    key = jax.random.PRNGKey(seed)
    obs = game.reset(seed)
    frames, total = [game.env.render()], 0.0
    try:
        while len(frames) < MAX_VIDEO_FRAMES:
            key, act_key = jax.random.split(key)
            obs, _reward, _terminated, _truncated, game_reward, game_over = game.step(
                int(act(member_state, jnp.asarray(obs), act_key))
            )
            frames.append(game.env.render())
            total += game_reward
            if game_over:
                break
        return np.stack(frames).astype(np.uint8), fps, total
    finally:
        game.env.close()


def write_video(frames: np.ndarray, fps: float, stem: Path) -> Path:
    """`stem`.mp4, or `stem`.gif when imageio-ffmpeg is missing; returns the path written."""
    try:
        import imageio.v3 as iio
        import imageio_ffmpeg  # noqa: F401  (the encoder binary imageio's MP4 writer needs)
    except ImportError:
        path = stem.with_suffix(".gif")
        path.write_bytes(gif_bytes(frames, fps))
        return path
    path = stem.with_suffix(".mp4")
    # macro_block_size=1: keep the frame size (the default pads it to a multiple of 16)
    iio.imwrite(path, frames, extension=".mp4", fps=fps, codec="libx264", macro_block_size=1)
    return path


def gif_bytes(frames: np.ndarray, fps: float) -> bytes:
    import io

    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=1000 / fps, loop=0)
    return buffer.getvalue()


def video_summary(tag: str, frames: np.ndarray, fps: float):
    """A TensorBoard image summary holding an animated GIF of the frames."""
    from tensorboardX.proto.summary_pb2 import Summary

    height, width = frames.shape[1:3]
    image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=gif_bytes(frames, fps))
    return Summary(value=[Summary.Value(tag=tag, image=image)])
