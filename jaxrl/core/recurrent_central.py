"""MAPPO-RNN's networks (JaxMARL's mappo_rnn_smax): a recurrent actor on the agent's own
observation and a recurrent critic on the world state, each with its own torso and carry, so the
critic remembers the game as a whole while the policy keeps only what its agent saw.

The network takes the observation and the world state side by side in one input [T, E, D + W],
so acting, learning and bootstrapping go through `jaxrl.core.recurrent`'s one path (`one_step`,
`last_outputs`) unchanged. Acting without a world state (greedily, a loaded policy) gives zeros
in its place: the value is then computed and unused, and the policy never reads it.
"""

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl.core.networks import Network, orthogonal
from jaxrl.core.recurrent import DEFAULT_SIZE, Carry, RecurrentTorso, initial_carry


class RecurrentCentralActorCritic(Network):
    """(carry (actor's, critic's), inputs [T, E, D + W], first [T, E]) -> (carry, (logits
    [T, E, A], value [T, E])): the first D inputs are the agent's observation, the rest the world
    state; every episode start resets both carries."""

    num_actions: int
    obs_size: int
    world_state_size: int
    hidden: Sequence[int] = (64, 64)
    recurrent: str = "gru"
    recurrent_size: int = DEFAULT_SIZE

    @nn.compact
    def __call__(
        self, carry: tuple[Carry, Carry], inputs: jax.Array, first: jax.Array
    ) -> tuple[tuple[Carry, Carry], tuple[jax.Array, jax.Array]]:
        obs, world_state = inputs[..., : self.obs_size], inputs[..., self.obs_size :]
        actor_carry, features = RecurrentTorso(
            (self.obs_size,), self.hidden, self.recurrent, self.recurrent_size, name="actor"
        )(carry[0], obs, first)
        critic_carry, critic_features = RecurrentTorso(
            (self.world_state_size,), self.hidden, self.recurrent, self.recurrent_size, name="critic"
        )(carry[1], world_state, first)
        logits = nn.Dense(self.num_actions, kernel_init=orthogonal(0.01))(features)
        value = nn.Dense(1, kernel_init=orthogonal(1.0))(critic_features)[..., 0]
        return (actor_carry, critic_carry), (logits, value)


def central_carry(num_envs: int, size: int, kind: str) -> tuple[Carry, Carry]:
    """The carries at an episode's start: the actor's and the critic's."""
    return initial_carry(num_envs, size, kind), initial_carry(num_envs, size, kind)


def central_inputs(obs: jax.Array, info: Any, world_state_size: int) -> jax.Array:
    """The network's input: `obs` [..., D] and the world state in `info` [..., W] side by side
    (zeros where `info` has none: acting greedily or from a loaded policy)."""
    world_state = info.get("world_state") if isinstance(info, dict) else None
    if world_state is None:
        world_state = jnp.zeros((*obs.shape[:-1], world_state_size), jnp.float32)
    return jnp.concatenate([obs.astype(jnp.float32), world_state], axis=-1)
