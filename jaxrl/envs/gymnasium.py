"""Gymnasium backend: N host gymnasium envs, one per seed, stepped from inside jit (and lax.scan)
through an ordered `io_callback`, with EnvPool's auto-reset rule and Atari preprocessing, so the
runner written against the EnvPool backend trains on it unchanged. Slower: every step is a trip
from the compiled program to Python and a Python loop over the envs.

EnvPool's rules, reproduced here:

- Auto-reset: a step that ends an episode (terminated or truncated) returns the terminal obs. The
  next step of that env is a *reset step*: its action is ignored, and it returns the first obs of
  the new episode with reward 0 and every flag False (the runner marks it `valid = False`).
- Seeds: env i starts with seed seeds[i] the first time; later resets are unseeded, so each env's
  RNG continues and the episodes differ.
- Atari (ALE, no sticky actions, minimal action set): random no-op starts, fire reset, frame skip
  4 with a max over the last 2 frames, grayscale, INTER_AREA-style resize to frame_size^2, a stack
  of 4 frames that a new game fills with its first frame, sign-clipped training reward next to
  the raw `game_reward`, episodic life, truncation after 27,000 agent steps (108,000 frames).
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from jaxrl.core.types import Env, EnvSpec, Step
from jaxrl.envs.ids import UnknownEnvError, continuous_actions

FRAME_SKIP = 4
STACK = 4
ATARI_MAX_EPISODE_STEPS = 27_000  # agent steps, EnvPool's default: 108,000 frames
ATARI_FPS = 60  # NTSC frames per second


def gymnasium_id(env_id: str) -> str:
    """EnvPool's Atari ids (`Pong-v5`) live in gymnasium's ALE namespace (`ALE/Pong-v5`)."""
    if "/" not in env_id and env_id.endswith("-v5"):
        return f"ALE/{env_id}"
    return env_id


def gymnasium_with_ale():
    """gymnasium with ale-py's Atari ids registered, imported by the first env that needs it: an
    EnvPool run does not pay its ~0.3 s of imports."""
    import ale_py  # lazy: see the docstring
    import gymnasium  # lazy: see the docstring

    gymnasium.register_envs(ale_py)
    return gymnasium


def registered(env_id: str) -> bool:
    """A gymnasium id, ALE's included."""
    return gymnasium_id(env_id) in gymnasium_with_ale().registry


def new_env(gym_id: str, atari: bool, render_mode: str | None = None):
    """One gymnasium env, or UnknownEnvError (a ValueError) with gymnasium's reason on one line."""
    gymnasium = gymnasium_with_ale()
    kwargs = {"render_mode": render_mode} if render_mode else {}
    if atari:
        # Frame skip, stacking and the time limit are done here (AtariGame) the way EnvPool does
        # them, so ALE runs one frame per step and sets no frame limit of its own.
        kwargs.update(
            frameskip=1,
            repeat_action_probability=0.0,
            full_action_space=False,
            obs_type="grayscale",
            max_num_frames_per_episode=None,
        )
    try:
        return gymnasium.make(gym_id, disable_env_checker=True, **kwargs)
    except gymnasium.error.Error as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UnknownEnvError(f"unknown gymnasium env '{gym_id}': {reason}") from None


class ClassicGame:
    """A classic-control env: one episode is one game, rewards are not clipped."""

    def __init__(self, env):
        self.env = env

    def reset(self, seed: int | None) -> np.ndarray:
        obs, _info = self.env.reset(seed=seed)
        return np.asarray(obs, np.float32)

    def restart(self) -> np.ndarray:
        """The reset step after an episode ended."""
        return self.reset(None)

    def step(self, action: int) -> tuple:
        obs, reward, terminated, truncated, _info = self.env.step(action)
        return np.asarray(obs, np.float32), reward, terminated, truncated, reward, terminated or truncated


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


def make_game(
    env_id: str, *, render: bool = False, frame_size: int = 84, episodic_life: bool = True, reward_clip: bool = True,
    noop_max: int = 30,
):  # fmt: skip
    """One game with the pool's preprocessing, for playing on the host (videos); with `render`,
    `game.env.render()` gives RGB frames. Returns (game, frames per second of one per agent step)."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame draws offscreen: no display needed
    gym_id = gymnasium_id(env_id)
    atari = gym_id.startswith("ALE/")
    env = new_env(gym_id, atari, "rgb_array" if render else None)
    game = as_game(env, atari, frame_size, episodic_life, reward_clip, noop_max)
    # Atari: the console's 60 frames a second, of which the agent sees every FRAME_SKIP-th
    return game, ATARI_FPS / FRAME_SKIP if atari else env.metadata.get("render_fps") or 30


def as_game(env, atari: bool, frame_size: int, episodic_life: bool, reward_clip: bool, noop_max: int):
    """A gymnasium env with the pool's preprocessing: Atari's (EnvPool's), or none."""
    if atari:
        return AtariGame(env, frame_size, episodic_life, reward_clip, noop_max)
    return ClassicGame(env)


class HostPool:
    """The games and the auto-reset bookkeeping, on the host. `step` is the io_callback target."""

    def __init__(self, games: list, seeds: list[int], obs_shape: tuple[int, ...], obs_dtype):
        self.games, self.seeds = games, list(seeds)
        self.obs_shape, self.obs_dtype = obs_shape, obs_dtype
        self.seeded = False  # seeds are used once: later resets continue each env's RNG
        self.pending_reset = np.zeros(len(games), bool)  # the last step ended this env's episode

    def reset(self) -> np.ndarray:
        seeds = [None] * len(self.games) if self.seeded else self.seeds
        self.seeded = True
        self.pending_reset[:] = False
        return np.stack([game.reset(seed) for game, seed in zip(self.games, seeds, strict=True)])

    def step(self, handle: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, Step]:
        """(handle [], action [N] int32) -> (handle + 1, Step of numpy arrays [N, ...])."""
        # io_callback hands over jax arrays: indexing them per env would dispatch a jax op each.
        handle, action = np.asarray(handle), np.asarray(action)
        n = len(self.games)
        obs = np.empty((n, *self.obs_shape), self.obs_dtype)
        reward, game_reward = np.zeros(n, np.float32), np.zeros(n, np.float32)
        terminated, truncated, game_over = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
        for i, game in enumerate(self.games):
            if self.pending_reset[i]:  # EnvPool's reset step: the action is ignored, all else 0
                obs[i] = game.restart()
            else:
                obs[i], reward[i], terminated[i], truncated[i], game_reward[i], game_over[i] = game.step(int(action[i]))
        self.pending_reset = terminated | truncated
        step = Step(obs, reward, terminated, truncated, game_reward, game_over)
        return np.asarray(handle + 1, np.int32), step

    def close(self) -> None:
        for game in self.games:
            game.env.close()


def checked_spec(env_id: str, env, frame_size: int) -> EnvSpec:
    """The EnvSpec of a pool of this gymnasium env, or UnknownEnvError (one line) if jaxrl cannot
    train on its spaces."""
    atari = gymnasium_id(env_id).startswith("ALE/")
    space, observations = env.action_space, env.observation_space
    spaces = gymnasium_with_ale().spaces
    if not isinstance(space, spaces.Discrete):
        raise continuous_actions(env_id, type(space).__name__)
    if atari:
        return EnvSpec(env_id, (STACK, frame_size, frame_size), "uint8", int(space.n), True)
    if not (isinstance(observations, spaces.Box) and len(observations.shape) == 1):
        raise UnknownEnvError(
            f"{env_id} observes a {type(observations).__name__}{list(observations.shape or [])}; jaxrl's networks "
            "take vectors (a 1-D Box) or Atari frames"
        )
    return EnvSpec(env_id, tuple(observations.shape), "float32", int(space.n), False)


def spec(env_id: str, frame_size: int = 84, **_options) -> EnvSpec:
    """The EnvSpec of a pool, from one env made and closed."""
    gym_id = gymnasium_id(env_id)
    env = new_env(gym_id, gym_id.startswith("ALE/"))
    try:
        return checked_spec(env_id, env, frame_size)
    finally:
        env.close()


def make(
    env_id: str,
    seeds: list[int],
    *,
    frame_size: int = 84,
    episodic_life: bool = True,
    reward_clip: bool = True,
    noop_max: int = 30,
) -> Env:
    """One pool of len(seeds) gymnasium envs with the EnvPool backend's interface and rules.

    `env_id`: any gymnasium id with a Discrete action space (CartPole-v1, Acrobot-v1, ...) or an
    ALE id (`ALE/Pong-v5`, or EnvPool's `Pong-v5`). The Atari options are EnvPool's.
    """
    gym_id = gymnasium_id(env_id)
    atari = gym_id.startswith("ALE/")
    envs = [new_env(gym_id, atari)]
    try:
        spec = checked_spec(env_id, envs[0], frame_size)
    except UnknownEnvError:
        envs[0].close()
        raise
    envs += [new_env(gym_id, atari) for _ in seeds[1:]]
    games = [as_game(env, atari, frame_size, episodic_life, reward_clip, noop_max) for env in envs]
    obs_shape, obs_dtype = spec.obs_shape, np.dtype(spec.obs_dtype)
    pool = HostPool(games, seeds, obs_shape, obs_dtype)

    n = len(seeds)
    handle_shape = jax.ShapeDtypeStruct((), jnp.int32)
    step_shapes = Step(
        obs=jax.ShapeDtypeStruct((n, *obs_shape), obs_dtype),
        reward=jax.ShapeDtypeStruct((n,), jnp.float32),
        terminated=jax.ShapeDtypeStruct((n,), jnp.bool_),
        truncated=jax.ShapeDtypeStruct((n,), jnp.bool_),
        game_reward=jax.ShapeDtypeStruct((n,), jnp.float32),
        game_over=jax.ShapeDtypeStruct((n,), jnp.bool_),
    )

    def reset():
        # The handle counts steps. It carries no env state (that lives on the host); threading it
        # through gives each step a data dependency on the one before, like EnvPool's handle.
        return jnp.zeros((), jnp.int32), jnp.asarray(pool.reset())

    def step(handle, action):
        # ordered=True: the host envs are stateful, so calls must run once each, in program
        # order, and never be dropped or deduplicated by the compiler. (Ordered effects cannot be
        # vmapped; the runner flattens its population into the env axis instead.)
        return io_callback(pool.step, (handle_shape, step_shapes), handle, action.astype(jnp.int32), ordered=True)

    return Env(spec=spec, num_envs=n, reset=reset, step=step, close=pool.close)
