"""Image observations drawn as colour frames: how a backend whose games gymnasium cannot render
(`OBSERVATION_PICTURES`: gymnax's MinAtar, ...) is shown in a video."""

import numpy as np

# One colour per channel (MinAtar's paddle, ball, trail, bricks, ...), cycled past ten channels.
PALETTE = np.array(
    [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
     [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]],
    np.uint8,
)  # fmt: skip
PICTURE_FPS = 10  # MinAtar has no frame rate of its own: ten steps a second reads well


def picture(obs: np.ndarray, scale: int = 16) -> np.ndarray:
    """An image observation [H, W, C] as a colour frame [H*scale, W*scale, 3] uint8: each cell in
    the colour of its last channel that is on (MinAtar draws its channels so), black where none is."""
    on = np.asarray(obs) > 0
    colours = PALETTE[np.arange(on.shape[-1]) % len(PALETTE)]
    last = on.shape[-1] - 1 - np.argmax(on[..., ::-1], axis=-1)
    frame = np.where(on.any(axis=-1, keepdims=True), colours[last], 0).astype(np.uint8)
    return np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1)


def discs(centres, radii, colours, bounds: tuple[float, float, float, float], size: int = 256) -> np.ndarray:
    """Filled discs on white, as a colour frame [size, size, 3] uint8: centres [N, 2] and radii [N]
    in world units inside `bounds` (x_min, x_max, y_min, y_max), y upwards as in a plot, colours
    [N, 3] uint8, each disc at least a pixel wide and drawn over the earlier ones. How games that
    have no pictures of their own (JaxMARL's MPE and SMAX, whose renderers are matplotlib figures)
    are shown."""
    x_min, x_max, y_min, y_max = bounds
    pixel = (x_max - x_min) / size
    xs = x_min + (np.arange(size) + 0.5) * pixel
    ys = y_max - (np.arange(size) + 0.5) * (y_max - y_min) / size
    frame = np.full((size, size, 3), 255, np.uint8)
    for (x, y), radius, colour in zip(np.asarray(centres), np.asarray(radii), np.asarray(colours), strict=True):
        inside = (xs[None, :] - x) ** 2 + (ys[:, None] - y) ** 2 <= max(float(radius), pixel) ** 2
        frame[inside] = colour
    return frame
