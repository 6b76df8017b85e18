"""Independent PPO (de Witt et al., 2020; JaxMARL's IPPO): PPO on a multi-agent env whose agents
are folded into rows (`jaxrl.envs.jaxmarl`), so one network, shared by every agent, learns from
each agent's own reward and observation, blind to the others. The algorithm is PPO's unchanged;
the name selects JaxMARL's baseline settings (`jaxrl/presets/ippo.toml`) and refuses a
single-agent env (`jaxrl.config.check_agents`)."""

from jaxrl.algos.ppo import ALGORITHM as PPO

ALGORITHM = PPO._replace(
    name="ippo",
    summary="IPPO: PPO with one network shared by every agent of a multi-agent env",
    action_spaces=("Discrete",),  # folded agents act in Discrete spaces only
)
