"""EnvPool backend: C++ vectorised envs, stepped inside jit through EnvPool's XLA custom call."""

import importlib
import importlib.util
import re
import sys
import warnings
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from jaxrl.core.types import Env, EnvSpec, Step
from jaxrl.envs.ids import is_atari_id

CLASSIC_IDS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0")
# The env families jaxrl trains on, by the EnvPool subpackage that registers them.
FAMILIES = ("classic_control", "atari")


def registry():
    """`envpool.registration` with only FAMILIES registered, in 30 ms. A plain `import envpool`
    registers all 17 families (MuJoCo, Jumanji's renderer with matplotlib, ...) in ~420 ms, a
    seventh of a CartPole run: the package's __init__ is skipped where its layout allows, and run
    as usual where it does not (another EnvPool version, or envpool imported already)."""
    if "envpool" not in sys.modules:
        spec = importlib.util.find_spec("envpool")
        if spec is not None and spec.submodule_search_locations:
            sys.modules["envpool"] = importlib.util.module_from_spec(spec)  # the package, without its __init__
            try:
                for family in FAMILIES:
                    importlib.import_module(f"envpool.{family}.registration")
                registration = importlib.import_module("envpool.registration")
                for name in ("make", "make_gymnasium", "make_spec", "list_all_envs"):  # `envpool.make` works too
                    setattr(sys.modules["envpool"], name, getattr(registration, name))
                return registration
            except (ImportError, AttributeError):
                for name in [name for name in sys.modules if name == "envpool" or name.startswith("envpool.")]:
                    del sys.modules[name]
    importlib.import_module("envpool")
    return importlib.import_module("envpool.registration")


def rom_dir() -> Path:
    registry()
    return Path(importlib.import_module("envpool.atari.registration").atari_rom_path)


def atari_ids() -> dict[str, str]:
    """Atari id -> game, for every ROM EnvPool holds: pong.bin -> Pong-v5, ms_pacman.bin -> MsPacman-v5."""
    games = sorted(path.stem for path in rom_dir().glob("*.bin"))
    return {"".join(part.capitalize() for part in game.split("_")) + "-v5": game for game in games}


def supported_ids() -> list[str]:
    return [env_id for env_id in CLASSIC_IDS if env_id in registry().list_all_envs()] + list(atari_ids())


def missing_rom(env_id: str) -> str | None:
    """The game of an Atari id that ale-py knows but EnvPool has no ROM for; None otherwise."""
    if not env_id.endswith("-v5"):
        return None
    from ale_py.roms import get_all_rom_ids  # lazy: ale-py is needed only for ids EnvPool lacks

    game = re.sub(r"(?<!^)(?=[A-Z])", "_", env_id.removesuffix("-v5")).lower()
    return game if game in get_all_rom_ids() else None


def action_space_name(env_id: str) -> str | None:
    """The action space's class name (Discrete, Box, ...) of an id EnvPool registers, None if unknown."""
    envpool = registry()
    if env_id not in envpool.list_all_envs():
        return None
    quiet_gymnasium()
    return type(envpool.make_spec(env_id).action_space).__name__


def quiet_gymnasium() -> None:
    """EnvPool builds float64-bounded Box spaces; gymnasium warns on every make that it casts them."""
    warnings.filterwarnings("ignore", message=".*precision lowered by casting.*", category=UserWarning)


def pool_options(
    env_id: str, *, frame_size: int = 84, episodic_life: bool = True, reward_clip: bool = True, noop_max: int = 30
) -> dict:
    """EnvPool's settings for an id: for Atari, the standard (Machado-free) setup used by CleanRL:
    frameskip 4, 4-frame stack, grayscale, noop starts, fire reset, no sticky actions."""
    if not is_atari_id(env_id):
        return {}
    return dict(
        img_height=frame_size,
        img_width=frame_size,
        episodic_life=episodic_life,
        reward_clip=reward_clip,
        noop_max=noop_max,
        repeat_action_probability=0.0,
    )


def spec_of(env_id: str, observation_space, action_space) -> EnvSpec:
    return EnvSpec(
        env_id=env_id,
        obs_shape=tuple(observation_space.shape),
        obs_dtype=np.dtype(observation_space.dtype).name,
        num_actions=int(action_space.n),
        is_atari=is_atari_id(env_id),
    )


def spec(env_id: str, **options) -> EnvSpec:
    """The EnvSpec of a pool, from EnvPool's registry, without making one."""
    quiet_gymnasium()
    registered = registry().make_spec(env_id, **pool_options(env_id, **options))
    return spec_of(env_id, registered.observation_space, registered.action_space)


def make(env_id: str, seeds: list[int], *, num_threads: int = 0, **options) -> Env:
    """One pool with an env per seed; `options`: the Atari preprocessing (`pool_options`)."""
    quiet_gymnasium()
    atari = is_atari_id(env_id)
    kwargs = dict(env_type="gymnasium", num_envs=len(seeds), seed=list(seeds), num_threads=num_threads)
    pool = registry().make(env_id, **kwargs, **pool_options(env_id, **options))
    spec = spec_of(env_id, pool.observation_space, pool.action_space)
    handle, _recv, _send, xla_step = pool.xla()

    def reset():
        obs, _info = pool.reset()
        return handle, jnp.asarray(obs)

    def step(handle, action):
        handle, (obs, reward, terminated, truncated, info) = xla_step(handle, action.astype(jnp.int32))
        reward = reward.astype(jnp.float32)
        if atari:
            # info["reward"] is the unclipped reward; info["terminated"] is the real game over,
            # while `terminated` is also raised on a life loss when episodic life is on.
            game_reward = info["reward"].astype(jnp.float32)
            game_over = info["terminated"].astype(bool) | truncated
        else:
            game_reward, game_over = reward, terminated | truncated
        return handle, Step(obs, reward, terminated, truncated, game_reward, game_over)

    return Env(spec=spec, num_envs=len(seeds), reset=reset, step=step, close=pool.close)
