"""Env ids and seeds: what every backend agrees on."""

ALIASES = {"CartPole": "CartPole-v1", "Pong": "Pong-v5", "Breakout": "Breakout-v5"}

# Gymnasium's MuJoCo tasks (EnvPool has them as `<Task>-v4`, `-v5`, ...): continuous control.
MUJOCO_TASKS = (
    "Ant", "HalfCheetah", "Hopper", "Humanoid", "HumanoidStandup", "InvertedDoublePendulum", "InvertedPendulum",
    "Pusher", "Reacher", "Swimmer", "Walker2d",
)  # fmt: skip


class UnknownEnvError(ValueError):
    """An env id jaxrl cannot train on; the message is one line with the reason."""


def unsupported_actions(algo: str, supported: tuple[str, ...], space: str) -> UnknownEnvError:
    """`space`: the env's action space as gymnasium prints it, e.g. Box(-1.0, 1.0, (6,), float32)."""
    return UnknownEnvError(f"{algo} supports {' and '.join(supported)} actions; got {space}")


def action_fields(space) -> dict:
    """EnvSpec's action fields for a gymnasium Discrete or Box space."""
    if hasattr(space, "n"):
        return dict(num_actions=int(space.n))
    return dict(
        num_actions=int(space.shape[0]),
        action_shape=tuple(space.shape),
        action_low=tuple(float(x) for x in space.low),
        action_high=tuple(float(x) for x in space.high),
    )


def is_mujoco_id(env_id: str) -> bool:
    return env_id.partition("-v")[0] in MUJOCO_TASKS


def is_atari_id(env_id: str) -> bool:
    return (env_id.endswith("-v5") and not is_mujoco_id(env_id)) or env_id.startswith("ALE/")


def id_family(env_id: str) -> str:
    """The preset family an id names, for the backends that step these ids (their `family`): the
    table an env takes its defaults from, before the table named by its id:
    "atari" (frame stacks, the Nature CNN), "minatar" (gymnax's MinAtar games, [10, 10, C]
    images, the MinAtar CNN), "mujoco" (continuous control) or "classic" (vector observations,
    MLPs)."""
    if env_id.endswith("-MinAtar"):
        return "minatar"
    if is_atari_id(env_id):
        return "atari"
    return "mujoco" if is_mujoco_id(env_id) else "classic"


def env_seeds(run_seed: int, num_envs: int, restarts: int = 0) -> list[int]:
    """Seeds of one run's envs: a pure function of (run seed, env index, restarts). A resumed run
    restarts its envs; new seeds keep it from replaying the episodes it began with."""
    return [(run_seed * 100_003 + restarts * 1_000_003 + index) % 2**31 for index in range(num_envs)]
