"""Gymnasium backend: N host gymnasium envs, one per seed, stepped from inside jit (and lax.scan)
through an ordered `io_callback`, with EnvPool's auto-reset rule and (`jaxrl.envs.ale`) Atari
preprocessing, so the runner written against the EnvPool backend trains on it unchanged. Slower:
every step is a trip from the compiled program to Python and a Python loop over the envs.

EnvPool's rules, reproduced here:

- Auto-reset: a step that ends an episode (terminated or truncated) returns the terminal obs. The
  next step of that env is a *reset step*: its action is ignored, and it returns the first obs of
  the new episode with reward 0 and every flag False (the runner marks it `valid = False`).
- Seeds: env i starts with seed seeds[i] the first time; later resets are unseeded, so each env's
  RNG continues and the episodes differ.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from jaxrl.core.types import Env, EnvSpec, Step
from jaxrl.envs.ale import ALE_OPTIONS, ATARI_FPS, FRAME_SKIP, STACK, AtariGame
from jaxrl.envs.base import GYMNASIUM_FRAMES, Backend
from jaxrl.envs.ids import UnknownEnvError, action_fields, id_family, is_atari_id, is_mujoco_id

MUJOCO_FRAME = 256  # rendered MuJoCo frames are MUJOCO_FRAME^2 (gymnasium's 480^2 make 0.7 GB per 1000 steps)


def gymnasium_id(env_id: str) -> str:
    """EnvPool's Atari ids (`Pong-v5`) live in gymnasium's ALE namespace (`ALE/Pong-v5`)."""
    if "/" not in env_id and is_atari_id(env_id):
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


def action_space(env_id: str):
    """The gymnasium action space of an id (one env is made and closed)."""
    gym_id = gymnasium_id(env_id)
    env = new_env(gym_id, gym_id.startswith("ALE/"))
    try:
        return env.action_space
    finally:
        env.close()


def new_env(gym_id: str, atari: bool, render_mode: str | None = None):
    """One gymnasium env, or UnknownEnvError (a ValueError) with gymnasium's reason on one line."""
    gymnasium = gymnasium_with_ale()
    kwargs = {"render_mode": render_mode} if render_mode else {}
    if render_mode and is_mujoco_id(gym_id):
        kwargs.update(width=MUJOCO_FRAME, height=MUJOCO_FRAME)
    if atari:
        kwargs.update(ALE_OPTIONS)
    try:
        return gymnasium.make(gym_id, disable_env_checker=True, **kwargs)
    except gymnasium.error.Error as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UnknownEnvError(f"unknown gymnasium env '{gym_id}': {reason}") from None


MASK_KEY = "action_mask"


def says_legal_actions(env) -> bool:
    """Whether a Discrete env reports its legal actions as gymnasium's and PettingZoo's envs do:
    a Dict observation of an "observation" and an "action_mask", or "action_mask" in the info of
    reset (probed on `env`, which is reset for it)."""
    spaces = gymnasium_with_ale().spaces
    if not isinstance(env.action_space, spaces.Discrete):
        return False
    if isinstance(env.observation_space, spaces.Dict):
        return MASK_KEY in env.observation_space.spaces
    return MASK_KEY in env.reset(seed=0)[1]


class ClassicGame:
    """A classic-control env: one episode is one game, rewards are not clipped. `mask`: the legal
    actions after the last reset or step where the env reports them (None where it does not)."""

    def __init__(self, env):
        self.env = env
        self.mask: np.ndarray | None = None

    def observed(self, obs, info: dict) -> np.ndarray:
        """The observation vector, keeping the legal actions the env reports beside it."""
        if isinstance(obs, dict):  # a Dict observation: the vector and its mask
            obs, self.mask = obs["observation"], np.asarray(obs[MASK_KEY], bool)
        elif MASK_KEY in info:
            self.mask = np.asarray(info[MASK_KEY], bool)
        return np.asarray(obs, np.float32)

    def reset(self, seed: int | None) -> np.ndarray:
        obs, info = self.env.reset(seed=seed)
        return self.observed(obs, info)

    def restart(self) -> np.ndarray:
        """The reset step after an episode ended."""
        return self.reset(None)

    def step(self, action) -> tuple:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self.observed(obs, info), reward, terminated, truncated, reward, terminated or truncated


def make_game(
    env_id: str, *, render: bool = False, frame_size: int = 84, episodic_life: bool = True, reward_clip: bool = True,
    noop_max: int = 30,
):  # fmt: skip
    """One game with the pool's preprocessing, for playing on the host (videos); with `render`,
    `game.env.render()` gives RGB frames. Returns (game, frames per second of one per agent step)."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame draws offscreen: no display needed
    os.environ.setdefault("MUJOCO_GL", "egl")  # MuJoCo renders headless through EGL (or MUJOCO_GL=osmesa)
    gym_id = gymnasium_id(env_id)
    atari = gym_id.startswith("ALE/")
    env = new_env(gym_id, atari, "rgb_array" if render else None)
    game = as_game(env, atari, frame_size, episodic_life, reward_clip, noop_max)
    # Atari: the console's 60 frames a second, of which the agent sees every FRAME_SKIP-th
    return game, ATARI_FPS / FRAME_SKIP if atari else env.metadata.get("render_fps") or 30


def check_rendering(env_id: str) -> None:
    """Raises UnknownEnvError, one line, where this machine cannot render the env's frames:
    MuJoCo renders headless through EGL or OSMesa (MUJOCO_GL), and either may be missing."""
    game = None
    try:
        game, _ = make_game(env_id, render=True)
        game.reset(0)
        game.env.render()
    except Exception as error:  # each rendering backend fails its own way (ImportError, GL errors, ...)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UnknownEnvError(
            f"cannot render {env_id} on this machine (MUJOCO_GL={os.environ.get('MUJOCO_GL')}: {reason}); "
            "headless MuJoCo rendering needs EGL or OSMesa: no video was written"
        ) from None
    finally:
        if game is not None:
            game.env.close()


def as_game(env, atari: bool, frame_size: int, episodic_life: bool, reward_clip: bool, noop_max: int):
    """A gymnasium env with the pool's preprocessing: Atari's (EnvPool's), or none."""
    if atari:
        return AtariGame(env, frame_size, episodic_life, reward_clip, noop_max)
    return ClassicGame(env)


class HostPool:
    """The games and the auto-reset bookkeeping, on the host. `step` is the io_callback target."""

    def __init__(self, games: list, seeds: list[int], obs_shape: tuple[int, ...], obs_dtype, num_masked: int = 0):
        self.games, self.seeds = games, list(seeds)
        self.obs_shape, self.obs_dtype = obs_shape, obs_dtype
        self.seeded = False  # seeds are used once: later resets continue each env's RNG
        self.pending_reset = np.zeros(len(games), bool)  # the last step ended this env's episode
        self.num_masked = num_masked  # the actions of an env that reports its legal ones, else 0

    def reset(self) -> np.ndarray:
        seeds = [None] * len(self.games) if self.seeded else self.seeds
        self.seeded = True
        self.pending_reset[:] = False
        return np.stack([game.reset(seed) for game, seed in zip(self.games, seeds, strict=True)])

    def info(self) -> dict | tuple:
        """`Step.info` of the games' last observations: their legal actions [N, A] where the env
        reports them (every action where a step did not), else ()."""
        if not self.num_masked:
            return ()
        every = np.ones(self.num_masked, bool)
        return {MASK_KEY: np.stack([every if game.mask is None else game.mask for game in self.games])}

    def step(self, handle: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, Step]:
        """(handle [], action [N] int32 or [N, A] float32) -> (handle + 1, Step of numpy arrays [N, ...])."""
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
                obs[i], reward[i], terminated[i], truncated[i], game_reward[i], game_over[i] = game.step(
                    action[i] if action.ndim > 1 else int(action[i])
                )
        self.pending_reset = terminated | truncated
        step = Step(obs, reward, terminated, truncated, game_reward, game_over, info=self.info())
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
    if not (isinstance(space, spaces.Discrete) or isinstance(space, spaces.Box) and len(space.shape) == 1):
        raise UnknownEnvError(f"{env_id}: jaxrl trains on Discrete or 1-D Box action spaces; got {space}")
    if atari:
        return EnvSpec(env_id, (STACK, frame_size, frame_size), "uint8", frame_stack=STACK, **action_fields(space))
    masked = says_legal_actions(env)
    if masked and isinstance(observations, spaces.Dict):
        observations = observations.spaces.get("observation", observations)
    if not (isinstance(observations, spaces.Box) and len(observations.shape) == 1):
        raise UnknownEnvError(
            f"{env_id} observes a {type(observations).__name__}{list(observations.shape or [])}; jaxrl's networks "
            "take vectors (a 1-D Box, or a Dict of an 'observation' vector and an 'action_mask') or Atari frames"
        )
    return EnvSpec(env_id, tuple(observations.shape), "float32", **action_fields(space), action_masks=masked)


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

    `env_id`: any gymnasium id with a Discrete or a 1-D Box action space and vector observations
    (CartPole-v1, Pendulum-v1, HalfCheetah-v5, ...) or an ALE id (`ALE/Pong-v5`, or EnvPool's
    `Pong-v5`). The Atari options are EnvPool's.
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
    pool = HostPool(games, seeds, obs_shape, obs_dtype, spec.num_actions if spec.action_masks else 0)
    action_dtype = jnp.float32 if spec.continuous else jnp.int32

    n = len(seeds)
    handle_shape = jax.ShapeDtypeStruct((), jnp.int32)
    step_shapes = Step(
        obs=jax.ShapeDtypeStruct((n, *obs_shape), obs_dtype),
        reward=jax.ShapeDtypeStruct((n,), jnp.float32),
        terminated=jax.ShapeDtypeStruct((n,), jnp.bool_),
        truncated=jax.ShapeDtypeStruct((n,), jnp.bool_),
        game_reward=jax.ShapeDtypeStruct((n,), jnp.float32),
        game_over=jax.ShapeDtypeStruct((n,), jnp.bool_),
        info={MASK_KEY: jax.ShapeDtypeStruct((n, spec.num_actions), jnp.bool_)} if spec.action_masks else (),
    )

    def reset():
        # The handle counts steps. It carries no env state (that lives on the host); threading it
        # through gives each step a data dependency on the one before, like EnvPool's handle.
        return jnp.zeros((), jnp.int32), jnp.asarray(pool.reset())

    def step(handle, action):
        # ordered=True: the host envs are stateful, so calls must run once each, in program
        # order, and never be dropped or deduplicated by the compiler. (Ordered effects cannot be
        # vmapped; the runner flattens its population into the env axis instead.)
        return io_callback(pool.step, (handle_shape, step_shapes), handle, action.astype(action_dtype), ordered=True)

    first_info = (lambda handle: jax.tree.map(jnp.asarray, pool.info())) if spec.action_masks else None
    return Env(spec=spec, num_envs=n, reset=reset, step=step, close=pool.close, first_info=first_info)


def knows(env_id: str) -> bool:
    """A gymnasium id (ALE's included) jaxrl can train on; an id whose spaces it cannot take
    raises the reason."""
    if not registered(env_id):
        return False
    spec(env_id)
    return True


def renderer(env_id: str, instance=None) -> str:
    """Games of this id are drawn by gymnasium, or one line says why this machine cannot."""
    check_rendering(env_id)
    return GYMNASIUM_FRAMES


def make_pool(env_id: str, seeds: list[int], *, instance=None, groups: int = 1, threads: int = 0, **options) -> Env:
    return make(env_id, seeds, **options)  # one synchronous pool of host envs: nothing to pipeline


BACKEND = Backend(
    name="gymnasium",
    knows=knows,
    candidates=lambda: (),  # gymnasium's registry is too wide to hint from: other backends' ids are the hints
    spec=spec,  # `instance` falls into its ignored options
    make=make_pool,
    action_space=lambda env_id, instance=None: str(action_space(env_id)),
    renderer=renderer,
    family=id_family,
)
