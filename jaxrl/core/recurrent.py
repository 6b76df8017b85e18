"""Recurrent cores (GRU, LSTM) scanned over time, resetting their state where an episode starts.

One code path serves acting and learning: acting runs the scan over a sequence of one step
([1, E, ...] with the carry [E, H]), learning over the rollout [T, E, ...] from the carry stored
at its start, so both see the same numbers. The reset happens inside the scan (PureJaxRL's
ScannedRNN idea): at a step whose `first` is set the carry is replaced by the initial one
before the cell reads the step's input, so no state leaks across an episode boundary, whether
the boundary falls inside a rollout or between two.
"""

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl.core.networks import Network, make_torso, orthogonal, relu_mlp

KINDS = ("none", "gru", "lstm")  # the `recurrent` setting: "none" is the feed-forward network
DEFAULT_SIZE = 128  # the `recurrent_size` setting's default (PureJaxRL's PPO-RNN uses 128)

# A GRU's carry is its hidden state [E, H]; an LSTM's is flax's (cell, hidden) pair, each [E, H].
Carry = Any


def recurrent_problem(kind: str, size: int) -> str | None:
    """Why a `recurrent` kind or `recurrent_size` cannot be built, in one line (the config layer
    raises it as a ConfigError before anything compiles), or None."""
    if kind not in KINDS:
        return f"--recurrent {kind}: choose one of {', '.join(KINDS)}"
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        return f"--recurrent-size {size}: the recurrent state needs at least 1 unit"
    return None


def initial_carry(num_envs: int, size: int, kind: str) -> Carry:
    """The carry at the start of every episode: zeros, [E, H] (a GRU) or two of them (an LSTM)."""
    zeros = jnp.zeros((num_envs, size), jnp.float32)
    if kind == "gru":
        return zeros
    if kind == "lstm":
        return (zeros, zeros)
    raise ValueError(f"no carry for recurrent kind {kind!r}: one of 'gru', 'lstm'")


def make_cell(kind: str, size: int) -> nn.RNNCellBase:
    if kind == "gru":
        return nn.GRUCell(size, name="cell")
    return nn.OptimizedLSTMCell(size, name="cell")


class ResettingCell(nn.Module):
    """One step of the cell for E envs: the carry reset to zeros where `first` [E] is set, then
    the cell on `x` [E, D]. Returns (carry, output [E, H])."""

    kind: str
    size: int

    @nn.compact
    def __call__(self, carry: Carry, step: tuple[jax.Array, jax.Array]):
        x, first = step
        start = initial_carry(x.shape[0], self.size, self.kind)
        carry = jax.tree.map(lambda fresh, old: jnp.where(first[:, None], fresh, old), start, carry)
        return make_cell(self.kind, self.size)(carry, x)


class ScannedCell(nn.Module):
    """The resetting cell scanned over time: (carry [E, H], x [T, E, D], first [T, E]) ->
    (carry after the last step, outputs [T, E, H]); the parameters are shared by every step."""

    kind: str
    size: int

    @nn.compact
    def __call__(self, carry: Carry, x: jax.Array, first: jax.Array):
        scan = nn.scan(ResettingCell, variable_broadcast="params", split_rngs={"params": False}, in_axes=0, out_axes=0)
        return scan(self.kind, self.size, name="scan")(carry, (x, first))


class RecurrentTorso(nn.Module):
    """Encoder (a CNN on images, a tanh MLP on vectors: `make_torso`) -> GRU or LSTM.
    (carry, obs [T, E, *obs_shape], first [T, E]) -> (carry, features [T, E, size])."""

    obs_shape: tuple[int, ...]
    hidden: Sequence[int] = (64, 64)
    kind: str = "gru"
    size: int = DEFAULT_SIZE
    cnn: bool = True

    @nn.compact
    def __call__(self, carry: Carry, obs: jax.Array, first: jax.Array):
        steps, envs = obs.shape[:2]
        encoded = make_torso(self.obs_shape, self.hidden, self.cnn)(obs.reshape(steps * envs, *obs.shape[2:]))
        return ScannedCell(self.kind, self.size)(carry, encoded.reshape(steps, envs, -1), first)


class RecurrentActorCritic(Network):
    """A recurrent torso shared by a policy head and a value head (PureJaxRL's PPO-RNN shape).
    (carry, obs [T, E, ...], first [T, E]) -> (carry, (policy, value [T, E])); the policy is
    logits [T, E, A], or for Box actions (`continuous`) the Gaussian's (mean, log_std) [T, E, A]
    with a learned state-independent log-std, as `GaussianActorCritic` has it. `head_hidden`:
    ReLU layers of each head between the cell and its output (Craftax's PPO-RNN: two of 512)."""

    num_actions: int
    obs_shape: tuple[int, ...]
    hidden: Sequence[int] = (64, 64)
    recurrent: str = "gru"
    recurrent_size: int = DEFAULT_SIZE
    continuous: bool = False
    cnn: bool = True
    head_hidden: Sequence[int] = ()

    @nn.compact
    def __call__(self, carry: Carry, obs: jax.Array, first: jax.Array):
        torso = RecurrentTorso(self.obs_shape, self.hidden, self.recurrent, self.recurrent_size, self.cnn)
        carry, features = torso(carry, obs, first)
        actor, critic = (relu_mlp(features, self.head_hidden) for _ in range(2))
        policy = nn.Dense(self.num_actions, kernel_init=orthogonal(0.01))(actor)
        value = nn.Dense(1, kernel_init=orthogonal(1.0))(critic)[..., 0]
        if self.continuous:
            log_std = self.param("log_std", nn.initializers.zeros, (self.num_actions,))
            policy = (policy, jnp.broadcast_to(log_std, policy.shape))
        return carry, (policy, value)


class RecurrentQNetwork(Network):
    """Q-values on a recurrent torso (PQN-RNN): (carry, obs [T, E, ...], first [T, E]) ->
    (carry, Q [T, E, A])."""

    num_actions: int
    obs_shape: tuple[int, ...]
    hidden: Sequence[int] = (64, 64)
    recurrent: str = "gru"
    recurrent_size: int = DEFAULT_SIZE
    cnn: bool = True

    @nn.compact
    def __call__(self, carry: Carry, obs: jax.Array, first: jax.Array):
        torso = RecurrentTorso(self.obs_shape, self.hidden, self.recurrent, self.recurrent_size, self.cnn)
        carry, features = torso(carry, obs, first)
        return carry, nn.Dense(self.num_actions)(features)


def one_step(network: Network, params: Any, carry: Carry, obs: jax.Array, first: jax.Array):
    """Acting: the network on one step of E envs (obs [E, ...], first [E]) through the same scan
    learning uses (a sequence of length 1): (carry, outputs without the time axis)."""
    carry, outputs = network.apply(params, carry, obs[None], first[None])
    return carry, jax.tree.map(lambda x: x[0], outputs)


def last_outputs(network: Network, params: Any, traj: Any, obs: jax.Array, last_obs: jax.Array):
    """The outputs at a rollout's last_obs (for bootstrapping): the rollout (`obs` [T, E, ...] as
    the network sees them) replayed from its carry at the start, then last_obs [E, ...], the carry
    reset there if an episode starts. `traj`: the Trajectory (carry, first, last_first)."""
    # the rollouts of jaxrl.core.programs record where sequences start; a bare Trajectory does not
    assert traj.first is not None and traj.last_first is not None, "a recurrent learner needs first, last_first"
    carry, _ = network.apply(params, traj.carry, obs, traj.first)
    return one_step(network, params, carry, last_obs, traj.last_first)[1]


def check_recurrent(static: Any) -> None:
    """An algorithm Static's `recurrent` and `recurrent_size`: ValueError (one line) where they
    cannot be built, or where minibatches, cut along the envs, do not divide them (an algorithm
    without minibatches learns on the whole rollout)."""
    problem = recurrent_problem(static.recurrent, static.recurrent_size)
    if problem:
        raise ValueError(problem)
    minibatches = getattr(static, "num_minibatches", 1)
    if static.recurrent != "none" and static.num_envs % minibatches:
        raise ValueError(
            f"--recurrent {static.recurrent} cuts minibatches along the envs: num_envs = {static.num_envs} "
            f"is not divisible by num_minibatches = {minibatches}"
        )
