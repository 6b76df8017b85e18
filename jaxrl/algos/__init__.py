"""The registry of algorithms by name; the contract is in `jaxrl.algos.base`."""

import importlib

from jaxrl.algos.base import Algorithm
from jaxrl.errors import did_you_mean

MODULES = {
    "ppo": "jaxrl.algos.ppo",
    "reinforce": "jaxrl.algos.reinforce",
    "a2c": "jaxrl.algos.a2c",
    "dqn": "jaxrl.algos.dqn",
    "ddqn": "jaxrl.algos.dqn:DOUBLE_DQN",  # "module:ATTRIBUTE" where one module holds several
    "sac": "jaxrl.algos.sac",
    "pqn": "jaxrl.algos.pqn",
    "impala": "jaxrl.algos.impala",
    "ippo": "jaxrl.algos.ippo",
    "mappo": "jaxrl.algos.mappo",
}
# Algorithms that train only multi-agent envs (EnvSpec.agents), by the single-agent one to use instead.
MULTI_AGENT_ONLY = {"ippo": "ppo", "mappo": "ppo"}


class UnknownAlgorithmError(ValueError):
    pass


def get_algorithm(name: str) -> Algorithm:
    """The algorithm registered as `name`; its module is imported on first use, by name, so that
    a run imports the one it trains."""
    if name not in MODULES:
        raise UnknownAlgorithmError(f"unknown algorithm '{name}'{did_you_mean(name, MODULES)}")
    module, _, attribute = MODULES[name].partition(":")
    return getattr(importlib.import_module(module), attribute or "ALGORITHM")
