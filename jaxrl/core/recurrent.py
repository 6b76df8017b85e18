"""Recurrent cores (GRU, LSTM) scanned over time, resetting their state where an episode starts.

One code path serves acting and learning: acting runs the scan over a sequence of one step
([1, E, ...] with the carry [E, H]), learning over the rollout [T, E, ...] from the carry stored
at its start, so both see the same numbers. The reset happens inside the scan (PureJaxRL's
ScannedRNN idea): at a step whose `first` is set the carry is replaced by the initial one
before the cell reads the step's input, so no state leaks across an episode boundary, whether
the boundary falls inside a rollout or between two.
"""

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl.core.networks import Network, make_torso, orthogonal, relu_mlp

KINDS = ("none", "gru", "lstm")  # the `recurrent` setting: "none" is the feed-forward network
DEFAULT_SIZE = 128  # the `recurrent_size` setting's default (PureJaxRL's PPO-RNN uses 128)

# A GRU's carry is its hidden state [E, H]; an LSTM's is the (cell, hidden) pair, each [E, H].
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


def stacked_orthogonal(gates: int) -> Any:
    """The (H, G*H) recurrent kernel's initializer: an orthogonal (H, H) block per gate, as
    separate cells' recurrent kernels start (one orthogonal (H, G*H) would couple the gates)."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        size = shape[0]
        blocks = [nn.initializers.orthogonal()(k, (size, size), dtype) for k in jax.random.split(key, gates)]
        return jnp.concatenate(blocks, axis=1)

    return init


def gru_gates(h: jax.Array, projected: jax.Array, recurrent: jax.Array) -> tuple[jax.Array, jax.Array]:
    """A GRU step's gates (Cho et al. 2014, PyTorch's nn.GRU layout) from its two products:
    `projected` = x W_i + b_i and `recurrent` = h W_h + b_h, each [E, 3H] for (r, z, n)."""
    size = h.shape[-1]
    reset, update = jnp.split(jax.nn.sigmoid(projected[:, : 2 * size] + recurrent[:, : 2 * size]), 2, axis=-1)
    candidate = jnp.tanh(projected[:, 2 * size :] + reset * recurrent[:, 2 * size :])
    h = (1.0 - update) * candidate + update * h
    return h, h


def lstm_gates(carry: Carry, projected: jax.Array, recurrent: jax.Array) -> tuple[Carry, jax.Array]:
    """An LSTM step's gates (Hochreiter & Schmidhuber 1997, no peepholes) from its two products,
    each [E, 4H] for (input, forget, output, cell): the three sigmoids are one. Carry (cell, h)."""
    cell, h = carry
    size = h.shape[-1]
    gates = projected + recurrent
    sigmoids, candidate = jax.nn.sigmoid(gates[:, : 3 * size]), jnp.tanh(gates[:, 3 * size :])
    input_gate, forget, output = jnp.split(sigmoids, 3, axis=-1)
    cell = forget * cell + input_gate * candidate
    h = output * jnp.tanh(cell)
    return (cell, h), h


# (carry, projected [E, G*H], recurrent [E, G*H]) -> (carry, output [E, H])
Gates = Callable[[Carry, jax.Array, jax.Array], tuple[Carry, jax.Array]]
CELLS: dict[str, tuple[int, Gates]] = {"gru": (3, gru_gates), "lstm": (4, lstm_gates)}  # gate blocks G, gates


def hidden(carry: Carry) -> jax.Array:
    """The part of a carry the recurrent product reads: h (an LSTM's carry is (cell, h))."""
    return carry[1] if isinstance(carry, tuple) else carry


def reset(carry: Carry, first: jax.Array) -> Carry:
    """The carry (or its cotangent) zeroed where an episode starts (`first` [E])."""
    return jax.tree.map(lambda c: jnp.where(first[:, None], 0.0, c), carry)


def recurrence_forward(
    gates: Gates, kernel: jax.Array, bias: jax.Array, projected: jax.Array, first: jax.Array, carry: Carry
) -> tuple[tuple[Carry, jax.Array], tuple[Carry, jax.Array]]:
    """The scan and what its backward pass needs: ((last carry, outputs [T, E, H]), (the carry
    each step read [T, ...], its recurrent product [T, E, G*H]))."""

    def step(carry: Carry, inputs: tuple[jax.Array, jax.Array]):
        projected, first = inputs
        carry = reset(carry, first)
        recurrent = hidden(carry) @ kernel + bias
        new, out = gates(carry, projected, recurrent)
        return new, (out, carry, recurrent)

    last, (outputs, carries, recurrents) = jax.lax.scan(step, carry, (projected, first))
    return (last, outputs), (carries, recurrents)


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def recurrence(
    gates: Gates, kernel: jax.Array, bias: jax.Array, projected: jax.Array, first: jax.Array, carry: Carry
) -> tuple[Carry, jax.Array]:
    """A cell over time: `projected` [T, E, G*H] (the input side of every gate, all steps made
    at once), `first` [T, E], the carry at the start -> (last carry, outputs [T, E, H]).

    Its backward pass is written out because autodiff's accumulates the kernel's gradient inside
    the reverse scan, a narrow (H, G*H) product and a sum in every step; here each reverse step
    only carries dh back through the gates and h W_h, and the kernel's gradient is one product
    over all T x E steps after it (CartPole PPO's LSTM update: 49.6 ms with autodiff's, 35.2
    ms with this one, BENCHMARKS "Memory")."""
    return recurrence_forward(gates, kernel, bias, projected, first, carry)[0]


def recurrence_fwd(
    gates: Gates, kernel: jax.Array, bias: jax.Array, projected: jax.Array, first: jax.Array, carry: Carry
) -> tuple[tuple[Carry, jax.Array], tuple]:
    outputs, (carries, recurrents) = recurrence_forward(gates, kernel, bias, projected, first, carry)
    return outputs, (kernel, projected, first, carries, recurrents)


def recurrence_bwd(gates: Gates, residuals: tuple, cotangents: tuple) -> tuple:
    kernel, projected, first, carries, recurrents = residuals
    d_last, d_outputs = cotangents

    def step(d_carry: Carry, inputs):
        carry, projected, recurrent, first, d_output = inputs
        _, vjp = jax.vjp(gates, carry, projected, recurrent)
        d_carry, d_projected, d_recurrent = vjp((d_carry, d_output))
        from_product = d_recurrent @ kernel.T  # h's share through its product, on h's part of the carry
        d_carry = (d_carry[0], d_carry[1] + from_product) if isinstance(d_carry, tuple) else d_carry + from_product
        return reset(d_carry, first), (d_projected, d_recurrent)

    inputs = (carries, projected, recurrents, first, d_outputs)
    d_carry, (d_projected, d_recurrent) = jax.lax.scan(step, d_last, inputs, reverse=True)
    d_kernel = jnp.einsum("teh,teg->hg", hidden(carries), d_recurrent)
    return d_kernel, d_recurrent.sum((0, 1)), d_projected, None, d_carry


recurrence.defvjp(recurrence_fwd, recurrence_bwd)


class ScannedCell(nn.Module):
    """A GRU or LSTM over time, the carry reset to zeros where `first` [T, E] is set:
    (carry [E, H], x [T, E, D], first [T, E]) -> (carry after the last step, outputs [T, E, H]).
    The input side of every gate is one (D, G*H) product over all T x E steps at once, before
    the scan; each step does only h's (H, G*H) product, for all gates at once, and the gates."""

    kind: str
    size: int

    @nn.compact
    def __call__(self, carry: Carry, x: jax.Array, first: jax.Array):
        blocks, gates = CELLS[self.kind]
        projected = nn.Dense(blocks * self.size, name="input")(x)  # [T, E, G*H]
        kernel = self.param("recurrent_kernel", stacked_orthogonal(blocks), (self.size, blocks * self.size))
        bias = self.param("recurrent_bias", nn.initializers.zeros, (blocks * self.size,))
        return recurrence(gates, kernel, bias, projected, first, carry)


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
