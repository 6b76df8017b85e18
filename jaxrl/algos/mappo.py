"""MAPPO (Yu et al., 2022; JaxMARL's MAPPO): IPPO with a centralised critic. The agents share one
policy that reads each agent's own observation, as in `ippo`, and one value network that reads the
world state the env gives each row (its game's state and the row's agent, `jaxrl.envs.jaxmarl`).
It is PPO with `critic` "central" (`jaxrl.algos.ppo`); the name selects JaxMARL's MAPPO settings
(`jaxrl/presets/mappo.toml`), asks the env for its world state (`jaxrl.config.env_options_of`) and
refuses a single-agent env (`jaxrl.config.check_agents`). With `--recurrent gru` (JaxMARL's
MAPPO-RNN) the policy and the critic are GRUs, each with its own carry
(`jaxrl.core.recurrent_central`)."""

import dataclasses

from jaxrl.algos.base import static
from jaxrl.algos.ppo import ALGORITHM as PPO
from jaxrl.algos.ppo import CRITIC_HELP
from jaxrl.algos.ppo import Static as PPOStatic


@dataclasses.dataclass(frozen=True)
class Static(PPOStatic):
    critic: str = static("central", CRITIC_HELP)
    shared_torso: bool = static(False, "one torso for policy and value; MAPPO's critic has its own")


ALGORITHM = PPO._replace(
    name="mappo",
    summary="MAPPO: IPPO's shared policy with a centralised critic on the env's world state",
    Static=Static,
    action_spaces=("Discrete",),  # folded agents act in Discrete spaces only
)
