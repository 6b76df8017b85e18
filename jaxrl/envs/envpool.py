"""EnvPool backend: C++ vectorised envs, stepped inside jit through EnvPool's XLA custom call.

MuJoCo's pools take float64 actions and return float64 observations, which JAX represents only
with 64-bit mode on. It is turned on for EnvPool's call alone (`jax.enable_x64` around its
making and its tracing): the call's operands are float64, everything around it, networks and
buffers, stays float32, and observations are cast to float32 as they leave the call.
"""

import contextlib
import importlib
import importlib.util
import re
import sys
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.core.types import Env, EnvSpec, Step, join_steps
from jaxrl.envs import envpool_xla, gymnasium
from jaxrl.envs.base import Backend
from jaxrl.envs.ids import UnknownEnvError, action_fields, id_family, is_atari_id, is_mujoco_id

CLASSIC_IDS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0")
# The env families every run registers, by the EnvPool subpackage that registers them; MuJoCo's
# ("mujoco.gym") is registered by the ids that need it (`registry_for`): it would cost every
# other run ~3 ms and the import of envpool.mujoco.
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


def registry_for(env_id: str, mujoco: bool = False):
    """`registry()`, with MuJoCo's ids registered too where `env_id` is one (or `mujoco`)."""
    envpool = registry()
    if mujoco or is_mujoco_id(env_id):
        importlib.import_module("envpool.mujoco.gym.registration")  # a no-op where envpool's __init__ ran
    return envpool


def rom_dir() -> Path:
    registry()
    return Path(importlib.import_module("envpool.atari.registration").atari_rom_path)


def atari_ids() -> dict[str, str]:
    """Atari id -> game, for every ROM EnvPool holds: pong.bin -> Pong-v5, ms_pacman.bin -> MsPacman-v5."""
    games = sorted(path.stem for path in rom_dir().glob("*.bin"))
    return {"".join(part.capitalize() for part in game.split("_")) + "-v5": game for game in games}


def supported_ids(mujoco: bool = False) -> list[str]:
    """The ids jaxrl trains on with EnvPool; MuJoCo's only with `mujoco` (see FAMILIES)."""
    registered = registry_for("", mujoco).list_all_envs()
    mujoco = [env_id for env_id in registered if is_mujoco_id(env_id)]
    return [env_id for env_id in CLASSIC_IDS if env_id in registered] + mujoco + list(atari_ids())


def missing_rom(env_id: str) -> str | None:
    """The game of an Atari id that ale-py knows but EnvPool has no ROM for; None otherwise."""
    if not env_id.endswith("-v5"):
        return None
    from ale_py.roms import get_all_rom_ids  # lazy: ale-py is needed only for ids EnvPool lacks

    game = re.sub(r"(?<!^)(?=[A-Z])", "_", env_id.removesuffix("-v5")).lower()
    return game if game in get_all_rom_ids() else None


def action_space(env_id: str):
    """The gymnasium action space of an id EnvPool registers (no pool is made), None if unknown."""
    envpool = registry_for(env_id)
    if env_id not in envpool.list_all_envs():
        return None
    quiet_gymnasium()
    return envpool.make_spec(env_id).action_space


def quiet_gymnasium() -> None:
    """EnvPool builds float64-bounded Box spaces; gymnasium warns on every make that it casts them."""
    warnings.filterwarnings("ignore", message=".*precision lowered by casting.*", category=UserWarning)


def pool_options(
    env_id: str,
    *,
    frame_size: int = 84,
    episodic_life: bool = True,
    reward_clip: bool = True,
    noop_max: int = 30,
    repeat_action_probability: float = 0.0,
) -> dict:
    """EnvPool's settings for an id: for Atari, the standard (Machado-free) setup used by CleanRL:
    frameskip 4, 4-frame stack, grayscale, noop starts, fire reset, no sticky actions (Machado's
    protocol, as Cleanba: `repeat_action_probability` 0.25, no episodic life)."""
    if not is_atari_id(env_id):
        return {}
    return dict(
        img_height=frame_size,
        img_width=frame_size,
        episodic_life=episodic_life,
        reward_clip=reward_clip,
        noop_max=noop_max,
        repeat_action_probability=repeat_action_probability,
    )


def spec_of(env_id: str, observation_space, action_space) -> EnvSpec:
    return EnvSpec(
        env_id=env_id,
        obs_shape=tuple(observation_space.shape),
        obs_dtype=obs_dtype(observation_space.dtype).name,
        # EnvPool stacks Atari frames on the first axis: [4, 84, 84]
        frame_stack=int(observation_space.shape[0]) if is_atari_id(env_id) else 1,
        **action_fields(action_space),
    )


def spec(env_id: str, **options) -> EnvSpec:
    """The EnvSpec of a pool, from EnvPool's registry, without making one."""
    quiet_gymnasium()
    registered = registry_for(env_id).make_spec(env_id, **pool_options(env_id, **options))
    return spec_of(env_id, registered.observation_space, registered.action_space)


def make(env_id: str, seeds: list[int], *, num_threads: int = 0, groups: int = 1, **options) -> Env:
    """One pool with an env per seed, or (`groups` > 1) that many pools of consecutive seeds, each
    sent its actions and received on its own (`Env.groups`); `num_threads`: EnvPool's threads of
    all the pools together (0: each pool's own choice, one per env up to the machine's cores);
    `options`: the Atari preprocessing (`pool_options`)."""
    quiet_gymnasium()
    size = len(seeds) // groups
    pools = [
        registry_for(env_id).make(
            env_id,
            env_type="gymnasium",
            num_envs=size,
            seed=list(seeds[g * size : (g + 1) * size]),
            num_threads=num_threads // groups,
            **pool_options(env_id, **options),
        )
        for g in range(groups)
    ]
    spec = spec_of(env_id, pools[0].observation_space, pools[0].action_space)
    # EnvPool checks the action dtype of its first call: Discrete int32, Box the space's (float64 for MuJoCo)
    action_dtype = np.dtype(pools[0].action_space.dtype) if spec.continuous else np.dtype(np.int32)
    with jax.enable_x64(True):  # the call's 64-bit operands keep their width (see the module docstring)
        calls = [envpool_xla.xla(pool) for pool in pools]  # (handle, recv, send, step) each

    def as_step(result) -> Step:
        obs, reward, terminated, truncated, info = result
        obs = obs.astype(spec.obs_dtype)
        reward = reward.astype(jnp.float32)
        if is_atari_id(env_id):
            # info["reward"] is the unclipped reward; info["terminated"] is the real game over,
            # while `terminated` is also raised on a life loss when episodic life is on.
            game_reward = info["reward"].astype(jnp.float32)
            game_over = info["terminated"].astype(bool) | truncated
        else:
            game_reward, game_over = reward, terminated | truncated
        return Step(obs, reward, terminated, truncated, game_reward, game_over)

    def reset():
        handles = tuple(handle for handle, *_ in calls)
        obs = np.concatenate([np.asarray(pool.reset()[0], spec.obs_dtype) for pool in pools])
        return handles[0] if groups == 1 else handles, jnp.asarray(obs)

    def send(handles, group: int, action):
        with jax.enable_x64(True):
            sent = calls[group][2](handles[group], action.astype(action_dtype))
        return handles[:group] + (sent,) + handles[group + 1 :]

    def recv(handles, group: int):
        with jax.enable_x64(True):
            received, result = calls[group][1](handles[group])
            step = as_step(result)
        return handles[:group] + (received,) + handles[group + 1 :], step

    def step(handle, action):
        if groups > 1:
            return step_groups(send, recv, groups, handle, action)
        with jax.enable_x64(True):
            handle, result = calls[0][3](handle, action.astype(action_dtype))
            return handle, as_step(result)

    def close():
        # A program dispatched asynchronously may still be stepping a pool (its outputs not yet
        # awaited); closing the pool under it would crash the process. Its outputs are among the
        # live arrays as long as anyone holds them. A program that failed steps nothing more: its
        # error is for whoever reads its outputs, not for the close (often on an error's way out).
        for array in jax.live_arrays():
            with contextlib.suppress(Exception):
                array.block_until_ready()
        for pool in pools:
            pool.close()

    pipelined = dict(groups=groups, send=send, recv=recv) if groups > 1 else {}
    return Env(spec=spec, num_envs=size * groups, reset=reset, step=step, close=close, **pipelined)


def step_groups(send, recv, groups: int, handles: tuple, action: jax.Array):
    """One step of every pool of a pipelined env: actions [N] (group-major) sent to all, then each
    pool received in turn; the Steps joined along the env axis."""
    for group, part in enumerate(jnp.split(action, groups)):
        handles = send(handles, group, part)
    steps = []
    for group in range(groups):
        handles, received = recv(handles, group)
        steps.append(received)
    return handles, join_steps(steps)


def obs_dtype(dtype) -> np.dtype:
    """What the agent sees: float64 observations (MuJoCo) as float32, others as they are."""
    return np.dtype(np.float32) if np.dtype(dtype) == np.float64 else np.dtype(dtype)


def knows(env_id: str) -> bool:
    """An id EnvPool steps; an Atari id ale-py knows but EnvPool has no ROM for raises the reason
    (a run would fail on the ROM; `--backend gymnasium` plays ale-py's)."""
    if env_id in supported_ids(mujoco=is_mujoco_id(env_id)):
        return True
    game = missing_rom(env_id)
    if game is not None:
        raise UnknownEnvError(f"{env_id}: no ROM {game}.bin in EnvPool's ROM folder {rom_dir()}; reinstall envpool")
    return False


def make_pool(env_id: str, seeds: list[int], *, instance=None, groups: int = 1, threads: int = 0, **options) -> Env:
    return make(env_id, seeds, num_threads=threads, groups=groups, **options)


BACKEND = Backend(
    name="envpool",
    knows=knows,
    candidates=lambda: supported_ids(mujoco=True),
    spec=lambda env_id, instance=None, **options: spec(env_id, **options),
    make=make_pool,
    action_space=lambda env_id, instance=None: str(action_space(env_id)),
    renderer=gymnasium.renderer,  # EnvPool draws nothing: gymnasium plays the same id for videos
    family=id_family,
)
