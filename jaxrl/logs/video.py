"""Videos of an agent playing, as files: MP4 (H.264, imageio-ffmpeg) or, where no encoder is
installed, an animated GIF; and as a TensorBoard summary holding an animated GIF (its Images tab
plays them). The frames come from `jaxrl.training.evaluation.record_game`.
"""

import io
from pathlib import Path

import numpy as np
from tensorboardX.proto.summary_pb2 import Summary


def write_video(frames: np.ndarray, fps: float, stem: Path) -> Path:
    """`stem`.mp4, or `stem`.gif when imageio-ffmpeg is missing; returns the path written."""
    try:
        import imageio.v3 as iio  # lazy: ~0.2 s of imports, for runs that write videos only
        import imageio_ffmpeg  # noqa: F401  (lazy too: the encoder binary imageio's MP4 writer needs)
    except ImportError:
        path = stem.with_suffix(".gif")
        path.write_bytes(gif_bytes(frames, fps))
        return path
    path = stem.with_suffix(".mp4")
    # macro_block_size=1: keep the frame size (the default pads it to a multiple of 16)
    iio.imwrite(path, frames, extension=".mp4", fps=fps, codec="libx264", macro_block_size=1)
    return path


def gif_bytes(frames: np.ndarray, fps: float) -> bytes:
    from PIL import Image  # lazy: Pillow for videos only

    images = [Image.fromarray(frame) for frame in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=1000 / fps, loop=0)
    return buffer.getvalue()


def video_summary(tag: str, frames: np.ndarray, fps: float):
    """A TensorBoard image summary holding an animated GIF of the frames."""

    height, width = frames.shape[1:3]
    image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=gif_bytes(frames, fps))
    return Summary(value=[Summary.Value(tag=tag, image=image)])
