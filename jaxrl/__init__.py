"""jaxrl: functional reinforcement learning in JAX, with EnvPool environments stepped inside jit.

    import jaxrl
    result = jaxrl.train("ppo", env="CartPole-v1", seeds=4, total_steps=50_000)

`train`, `sweep`, `pbt`, `resume`, `evaluate`, `load` and `export` are `jaxrl.api`'s; bad input raises
`ConfigError` (a ValueError) with one line.
"""

import importlib

from jaxrl.errors import CheckpointError, ConfigError

__version__ = "0.1.0"
__all__ = ["CheckpointError", "ConfigError", "evaluate", "export", "load", "pbt", "resume", "sweep", "train"]
API = ("evaluate", "export", "load", "pbt", "resume", "sweep", "train")


def __getattr__(name: str):
    """The API's functions, imported on first use: `import jaxrl` (and the command line, which
    imports the package before parsing its flags) does not pay for jax, flax and EnvPool."""
    if name in API:
        return getattr(importlib.import_module("jaxrl.api"), name)
    raise AttributeError(f"module 'jaxrl' has no attribute {name!r}")
