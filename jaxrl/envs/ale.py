"""ALE (Atari) games with EnvPool's preprocessing, for the gymnasium backend and for videos:
random no-op starts, fire reset, frame skip 4 with a max over the last 2 frames, grayscale,
INTER_AREA-style resize to frame_size^2, a stack of 4 frames that a new game fills with its first
frame, sign-clipped training reward next to the raw `game_reward`, episodic life, truncation after
27,000 agent steps (108,000 frames). ALE runs with no sticky actions and the minimal action set.
"""

import numpy as np

FRAME_SKIP = 4
STACK = 4
ATARI_MAX_EPISODE_STEPS = 27_000  # agent steps, EnvPool's default: 108,000 frames
ATARI_FPS = 60  # NTSC frames per second

# What gymnasium's ALE env is made with: frame skip, stacking and the time limit are done here
# (AtariGame) the way EnvPool does them, so ALE runs one frame per step and sets no frame limit.
ALE_OPTIONS = dict(
    frameskip=1, repeat_action_probability=0.0, full_action_space=False, obs_type="grayscale",
    max_num_frames_per_episode=None,
)  # fmt: skip


def area_taps(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray]:
    """How `size_in` pixels average down to `size_out` (what OpenCV's INTER_AREA computes): output
    pixel i is sum_k weight[i, k] * input[index[i, k]], over the few input pixels it overlaps.
    Gathers, not a dense matmul: BLAS threads stall when the cores are busy with XLA."""
    scale = size_in / size_out
    start = np.arange(size_out)[:, None] * scale
    pixel = np.arange(size_in)[None, :]
    overlap = np.clip(np.minimum(start + scale, pixel + 1) - np.maximum(start, pixel), 0.0, None)
    taps = int((overlap > 0).sum(axis=1).max())
    index = np.argsort(overlap <= 0, axis=1, kind="stable")[:, :taps]  # the overlapped pixels first
    weight = np.take_along_axis(overlap, index, axis=1) / scale
    return index, weight.astype(np.float32)


class AtariGame:
    """One ALE game with EnvPool's preprocessing. The agent sees an "episode" per life when
    `episodic_life`; the reported game (game_reward, game_over) spans all lives."""

    def __init__(self, env, frame_size: int, episodic_life: bool, reward_clip: bool, noop_max: int):
        self.env = env
        self.episodic_life, self.reward_clip, self.noop_max = episodic_life, reward_clip, noop_max
        meanings = env.unwrapped.get_action_meanings()
        self.fire = meanings.index("FIRE") if "FIRE" in meanings else None  # games that wait for FIRE
        height, width = env.observation_space.shape
        self.rows, self.cols = area_taps(height, frame_size), area_taps(width, frame_size)
        self.stack = np.zeros((STACK, frame_size, frame_size), np.uint8)
        self.screen = np.zeros((height, width), np.uint8)  # the latest raw frame
        self.lives = 0
        self.elapsed = 0  # agent steps in this game
        self.game_over = True

    def shrink(self, screen: np.ndarray) -> np.ndarray:
        (row_index, row_weight), (col_index, col_weight) = self.rows, self.cols
        # Columns first, in float32: OpenCV's order, which makes the frames EnvPool's bit for bit.
        frame = np.einsum("hck,ck->hc", screen[:, col_index], col_weight)  # [height, frame_size]
        frame = np.einsum("rkc,rk->rc", frame[row_index], row_weight)  # [frame_size, frame_size]
        return np.clip(np.rint(frame), 0, 255).astype(np.uint8)

    def push(self, screen: np.ndarray, whole_stack: bool) -> np.ndarray:
        """Shifts one frame into the stack; a new game fills every slot with its first frame."""
        frame = self.shrink(screen)
        if whole_stack:
            self.stack[:] = frame
        else:
            self.stack[:-1] = self.stack[1:]
            self.stack[-1] = frame
        return self.stack.copy()

    def new_game(self, seed: int | None) -> None:
        self.screen, info = self.env.reset(seed=seed)
        self.lives, self.elapsed, self.game_over = info["lives"], 0, False

    def start(self, new_game: bool) -> np.ndarray:
        """EnvPool's start: 1..noop_max raw NOOP frames (one fewer when FIRE follows), then FIRE
        for games that wait for it; rewards of these frames are dropped. A game that ends during
        them starts over."""
        noops = int(self.env.np_random.integers(1, self.noop_max + 1)) if self.noop_max > 0 else 0
        noops -= self.fire is not None
        for _ in range(max(noops, 0)):
            self.screen, _reward, terminated, truncated, info = self.env.step(0)
            self.lives = info["lives"]
            if terminated or truncated:
                self.new_game(None)
                new_game = True
        if self.fire is not None:
            self.screen, _reward, _terminated, _truncated, info = self.env.step(self.fire)
            self.lives = info["lives"]
        return self.push(self.screen, whole_stack=new_game)

    def reset(self, seed: int | None) -> np.ndarray:
        self.new_game(seed)
        return self.start(new_game=True)

    def restart(self) -> np.ndarray:
        """The reset step after an episode ended. After a lost life (episodic life) the game goes
        on, as in EnvPool: no ALE reset, only the start frames (no-ops, FIRE), and the new frame is
        shifted into the running stack. After the real game end or truncation, a new game."""
        if self.game_over:
            return self.reset(None)
        return self.start(new_game=False)

    def step(self, action: int) -> tuple:
        game_reward, screens = 0.0, []
        for _ in range(FRAME_SKIP):
            screen, reward, terminated, _truncated, info = self.env.step(action)
            game_reward += reward
            screens.append(screen)
            if terminated:
                break
        self.screen = screens[-1]
        obs = self.push(np.maximum(screens[-2], screens[-1]) if len(screens) > 1 else screens[-1], False)
        self.elapsed += 1
        truncated = not terminated and self.elapsed >= ATARI_MAX_EPISODE_STEPS
        # The last life's loss is the game end itself: only earlier ones end an agent episode.
        lost_life = self.episodic_life and 0 < info["lives"] < self.lives
        self.lives = info["lives"]
        self.game_over = terminated or truncated
        reward = float(np.sign(game_reward)) if self.reward_clip else game_reward
        return obs, reward, terminated or lost_life, truncated, game_reward, self.game_over
