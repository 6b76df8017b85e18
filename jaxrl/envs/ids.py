"""Env ids and seeds: what every backend agrees on."""

ALIASES = {"CartPole": "CartPole-v1", "Pong": "Pong-v5", "Breakout": "Breakout-v5"}


class UnknownEnvError(ValueError):
    """An env id jaxrl cannot train on; the message is one line with the reason."""


def continuous_actions(env_id: str, space: str) -> UnknownEnvError:
    return UnknownEnvError(f"{env_id} has a continuous action space ({space}); jaxrl's algorithms need a discrete one")


def is_atari_id(env_id: str) -> bool:
    return env_id.endswith("-v5") or env_id.startswith("ALE/")


def env_family(env_id: str, backend: str) -> str:
    """The preset table an env takes its defaults from, before the table named by its id:
    "atari" (frame stacks, the Nature CNN), "minatar" (gymnax's MinAtar games, [10, 10, C]
    images, the MinAtar CNN) or "classic" (vector observations, MLPs)."""
    if env_id.endswith("-MinAtar"):
        return "minatar"
    return "atari" if is_atari_id(env_id) else "classic"


def env_seeds(run_seed: int, num_envs: int, restarts: int = 0) -> list[int]:
    """Seeds of one run's envs: a pure function of (run seed, env index, restarts). A resumed run
    restarts its envs; new seeds keep it from replaying the episodes it began with."""
    return [(run_seed * 100_003 + restarts * 1_000_003 + index) % 2**31 for index in range(num_envs)]
