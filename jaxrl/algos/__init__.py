"""The registry of algorithms by name; the contract is in `jaxrl.algos.base`."""

import difflib
import importlib

from jaxrl.algos.base import Algorithm

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
}
# Algorithms that train only multi-agent envs (EnvSpec.agents), by the single-agent one to use instead.
MULTI_AGENT_ONLY = {"ippo": "ppo"}
# Known names jaxrl does not train yet, refused with the reason rather than "unknown".
NOT_YET = {"mappo": "mappo (a centralised critic) is not in jaxrl yet: use ippo, independent critics"}


class UnknownAlgorithmError(ValueError):
    pass


def get_algorithm(name: str) -> Algorithm:
    """The algorithm registered as `name`; its module is imported on first use, by name, so that
    a run imports the one it trains."""
    if name in NOT_YET:
        raise UnknownAlgorithmError(NOT_YET[name])
    if name not in MODULES:
        close = difflib.get_close_matches(name, list(MODULES), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UnknownAlgorithmError(f"unknown algorithm '{name}'{hint}")
    module, _, attribute = MODULES[name].partition(":")
    return getattr(importlib.import_module(module), attribute or "ALGORITHM")
