"""Flax networks: torsos that embed observations, and the heads algorithms put on them."""

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def orthogonal(scale: float = np.sqrt(2)):
    return nn.initializers.orthogonal(scale)


class Network(nn.Module):
    """A network an algorithm applies: its outputs alone. jaxrl never applies one with mutable
    collections, which flax's `apply` also allows and types its result for (`outputs |
    (outputs, variables)`): the type checker is told what jaxrl gets."""

    if TYPE_CHECKING:

        def apply(self, variables: Any, *args: Any, **kwargs: Any) -> Any: ...


class MLP(nn.Module):
    hidden: Sequence[int] = (64, 64)

    @nn.compact
    def __call__(self, x):
        x = x.reshape(x.shape[0], -1).astype(jnp.float32)
        for width in self.hidden:
            x = nn.tanh(nn.Dense(width, kernel_init=orthogonal(), bias_init=nn.initializers.zeros)(x))
        return x


def maybe_layer_norm(x, layer_norm: bool):
    """LayerNorm (Ba et al., 2016) over the last axis where asked, else `x` as it is (no
    parameters, so networks without it keep their parameter trees). PQN puts it after every
    hidden layer: it is what keeps TD learning stable without a target network."""
    return nn.LayerNorm()(x) if layer_norm else x


def convolutions_as_matmuls() -> bool:
    """Whether the Nature CNN computes its convolutions as patch matrix products (`patch_convolution`):
    on XLA's CPU backend, yes. There a population's vmapped convolution over per-member kernels
    becomes a grouped convolution, which runs far below dense speed (4 members' gradient: 7.3x
    one member's), and a convolution inside a loop runs about 10x slower than outside one; a
    matrix product is as fast as the convolution for one member and vmaps into a batched one
    (BENCHMARKS "Populations on Atari: the members' update"). Other backends keep their convolution."""
    return jax.default_backend() == "cpu"


def patch_convolution(x, kernel, stride: int):
    """The VALID convolution of `x` [B, H, W, C] with `kernel` [k, k, C, O] (k a multiple of
    `stride`), as one matrix product of its patches with the kernel: the same numbers as lax's
    convolution up to float rounding. A strided convolution is first turned into an unstrided one
    by space-to-depth (each stride x stride block of pixels becomes one pixel of stride^2 * C
    channels), so its patches are (k / stride)^2 contiguous slices rather than k^2 strided ones."""
    batch, _, _, channels = x.shape
    k, features = kernel.shape[0], kernel.shape[-1]
    blocks = k // stride  # the kernel's width in blocks
    out_h, out_w = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    if stride > 1:  # rows and columns no output reads are dropped; blocks become channels
        rows, columns = out_h - 1 + blocks, out_w - 1 + blocks
        x = x[:, : rows * stride, : columns * stride]
        x = x.reshape(batch, rows, stride, columns, stride, channels).transpose(0, 1, 3, 2, 4, 5)
        x = x.reshape(batch, rows, columns, stride * stride * channels)
    patches = jnp.concatenate(
        [x[:, i : i + out_h, j : j + out_w] for i in range(blocks) for j in range(blocks)], axis=-1
    )  # [B, H', W', k*k*C], ordered as the kernel rearranged below
    kernel = kernel.reshape(blocks, stride, blocks, stride, channels, features).transpose(0, 2, 1, 3, 4, 5)
    return patches @ kernel.reshape(k * k * channels, features)


class PatchConv(nn.Module):
    """nn.Conv's VALID, square, strided convolution (the same parameters: names, shapes and
    initial values) computed by `patch_convolution`."""

    features: int
    kernel_size: int
    stride: int

    @nn.compact
    def __call__(self, x):
        k = self.kernel_size
        kernel = self.param("kernel", orthogonal(), (k, k, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return patch_convolution(x, kernel, self.stride) + bias


class NatureCNN(nn.Module):
    """Mnih et al. (2015). Frames stay uint8 until here: scaling to [0, 1] is the first op.
    `layer_norm`: LayerNorm after every conv and the dense layer, before its ReLU. `as_matmuls`:
    convolutions as patch matrix products (None: `convolutions_as_matmuls()`); the parameters
    are the same either way."""

    layer_norm: bool = False
    as_matmuls: bool | None = None

    @nn.compact
    def __call__(self, x):
        as_matmuls = convolutions_as_matmuls() if self.as_matmuls is None else self.as_matmuls
        x = jnp.transpose(x, (0, 2, 3, 1)).astype(jnp.float32) / 255.0  # [B, C, H, W] -> NHWC
        for i, (features, kernel, stride) in enumerate(((32, 8, 4), (64, 4, 2), (64, 3, 1))):
            conv: nn.Module
            if as_matmuls:
                conv = PatchConv(features, kernel, stride, name=f"Conv_{i}")
            else:
                conv = nn.Conv(
                    features, (kernel, kernel), (stride, stride), "VALID", kernel_init=orthogonal(), name=f"Conv_{i}"
                )
            x = nn.relu(maybe_layer_norm(conv(x), self.layer_norm))
        x = x.reshape(x.shape[0], -1)
        return nn.relu(maybe_layer_norm(nn.Dense(512, kernel_init=orthogonal())(x), self.layer_norm))


class MinAtarCNN(nn.Module):
    """Young & Tian (2019), MinAtar's network: one 3x3 convolution of 16 channels (stride 1,
    "VALID"), then a dense layer of 128, both ReLU; [B, H, W, C] observations of 0s and 1s.

    The convolution is computed as a matrix product of its 3x3 patches with the kernel (the same
    numbers): XLA's CPU backend runs a convolution inside a loop (the fused training program is
    one) about 6x slower than outside it, a matrix product at full speed."""

    features: int = 16
    kernel_size: int = 3
    layer_norm: bool = False  # after the convolution and the dense layer, before their ReLU

    @nn.compact
    def __call__(self, x):
        x = x.astype(jnp.float32)
        k = self.kernel_size
        kernel = self.param("kernel", orthogonal(), (k, k, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        x = nn.relu(maybe_layer_norm(patch_convolution(x, kernel, 1) + bias, self.layer_norm))
        dense = nn.Dense(128, kernel_init=orthogonal())(x.reshape(x.shape[0], -1))
        return nn.relu(maybe_layer_norm(dense, self.layer_norm))


def is_image(obs_shape: tuple[int, ...]) -> bool:
    return len(obs_shape) == 3  # stacked frames [C, H, W], or a JAX env's image [H, W, C]


def channels_last(obs_shape: tuple[int, ...]) -> bool:
    """An image [H, W, C] (MinAtar's [10, 10, C], Seaquest's [10, 10, 10] included) rather than a
    frame stack [C, H, W] (Atari's [4, 84, 84]: fewer channels than columns)."""
    return is_image(obs_shape) and not obs_shape[0] < obs_shape[-1]


def image_torso(obs_shape: tuple[int, ...], layer_norm: bool = False) -> nn.Module:
    """Channels first (Atari's frame stacks [4, 84, 84]): the Nature CNN; channels last
    (MinAtar's [10, 10, C]): the MinAtar CNN; either with LayerNorm (`layer_norm`)."""
    return MinAtarCNN(layer_norm=layer_norm) if channels_last(obs_shape) else NatureCNN(layer_norm)


def make_torso(obs_shape: tuple[int, ...], hidden: Sequence[int], cnn: bool = True) -> nn.Module:
    """Images get a CNN (image_torso) unless `cnn` is False; flat vectors an MLP."""
    return image_torso(obs_shape) if is_image(obs_shape) and cnn else MLP(tuple(hidden))


# JAXRL_UNROLL forces the choice of `unroll_gradient_loops` (to measure one against the other, or
# where the automatic one is wrong for a machine): "auto" (the default), "loops" or "unrolled";
# the API refuses any other value before anything is built (`jaxrl.api.enable_compilation_cache`).
UNROLL_CHOICES = ("auto", "loops", "unrolled")


def unroll_gradient_loops(obs_shape: tuple[int, ...]) -> bool:
    """Whether loops of gradient steps (epochs, minibatches) should be unrolled.

    XLA's CPU backend runs lax's convolution gradient about 10x slower inside a while loop than in
    straight-line code (16 Nature-CNN minibatch steps: 46 s as `lax.scan`, 4.1 s unrolled, on 2
    cores), so the loops were unrolled there, at the cost of compile time and of every step's
    temporaries at once. Since the Nature CNN computes its convolutions as patch matmuls on
    XLA:CPU (`convolutions_as_matmuls`), its loops run faster than unrolled ones (Pong PPO's
    update: 3.0 s looped, 3.5 s unrolled, compiled in 7 CPU s instead of 32; PQN's: 7.5 s and
    11.1 s, 9 CPU s and 225; 0.15 and 0.08 of the temporaries: BENCHMARKS "Memory of the
    compiled programs"): loops are kept everywhere, and
    unrolled only where lax's convolution runs inside them on XLA:CPU. The MinAtar CNN has no
    convolution op (see MinAtarCNN). JAXRL_UNROLL overrides.
    """
    choice = os.environ.get("JAXRL_UNROLL", "auto")
    if choice != "auto":
        return choice == "unrolled"
    lax_convolutions = is_image(obs_shape) and not channels_last(obs_shape) and not convolutions_as_matmuls()
    return jax.default_backend() == "cpu" and lax_convolutions


class ActorCritic(Network):
    """Policy logits and state value. `shared` puts both heads on one torso (Atari, A2C)."""

    num_actions: int
    obs_shape: tuple[int, ...]
    hidden: Sequence[int] = (64, 64)
    shared: bool = True
    cnn: bool = True  # False: images flattened into the MLP

    @nn.compact
    def __call__(self, obs) -> tuple[jax.Array, jax.Array]:
        actor_features = make_torso(self.obs_shape, self.hidden, self.cnn)(obs)
        critic_features = actor_features if self.shared else make_torso(self.obs_shape, self.hidden, self.cnn)(obs)
        logits = nn.Dense(self.num_actions, kernel_init=orthogonal(0.01))(actor_features)
        value = nn.Dense(1, kernel_init=orthogonal(1.0))(critic_features)
        return logits, value[..., 0]


class CentralActorCritic(Network):
    """MAPPO's networks (Yu et al., 2022): policy logits from the agent's own observation, the
    value from the world state that the env gives each row (`Step.info["world_state"]`), each
    through its own MLP. `policy` alone is what acting greedily or an export needs: no world
    state there."""

    num_actions: int
    obs_shape: tuple[int, ...]
    world_state_size: int
    hidden: Sequence[int] = (64, 64)

    def setup(self):
        self.actor = MLP(tuple(self.hidden))
        self.critic = MLP(tuple(self.hidden))
        self.logits = nn.Dense(self.num_actions, kernel_init=orthogonal(0.01))
        self.value_head = nn.Dense(1, kernel_init=orthogonal(1.0))

    def __call__(self, obs, world_state) -> tuple[jax.Array, jax.Array]:
        return self.policy(obs), self.value(world_state)

    def policy(self, obs) -> jax.Array:
        return self.logits(self.actor(obs))

    def value(self, world_state) -> jax.Array:
        return self.value_head(self.critic(world_state))[..., 0]


def relu_mlp(x, hidden: Sequence[int], layer_norm: bool = False):
    for width in hidden:
        x = nn.relu(maybe_layer_norm(nn.Dense(width)(x), layer_norm))
    return x


def embed(obs, obs_shape: tuple[int, ...], hidden: Sequence[int], layer_norm: bool = False):
    """A CNN on images (image_torso), a ReLU MLP on vectors (DQN's, PQN's and SAC's torsos)."""
    if is_image(obs_shape):
        return image_torso(obs_shape, layer_norm)(obs)
    return relu_mlp(obs.reshape(obs.shape[0], -1).astype(jnp.float32), hidden, layer_norm)


class QNetwork(Network):
    """Q(s, a) for every discrete action: a CNN on images (image_torso), a ReLU MLP on vectors;
    `layer_norm`: LayerNorm after every hidden layer (PQN), before its ReLU. (Discrete SAC's
    actor is this network too, its outputs read as logits.)"""

    num_actions: int
    obs_shape: tuple[int, ...]
    hidden: Sequence[int] = (120, 84)
    layer_norm: bool = False

    @nn.compact
    def __call__(self, obs) -> jax.Array:
        features = embed(obs, self.obs_shape, self.hidden, self.layer_norm)  # first: Flax names layers as made
        return nn.Dense(self.num_actions)(features)  # [B, num_actions]


class GaussianActorCritic(Network):
    """A diagonal Gaussian policy whose log-std is a learned vector, independent of the state, and
    the state value (CleanRL's ppo_continuous_action): ((mean [B, A], log_std [B, A]), value [B]).
    The mean head is ActorCritic's policy head (orthogonal init, scale 0.01); the log-std starts at 0."""

    action_size: int
    obs_shape: tuple[int, ...]
    hidden: Sequence[int] = (64, 64)
    shared: bool = False
    cnn: bool = True  # False: images flattened into the MLP

    @nn.compact
    def __call__(self, obs):
        mean, value = ActorCritic(self.action_size, self.obs_shape, self.hidden, self.shared, self.cnn)(obs)
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_size,))
        return (mean, jnp.broadcast_to(log_std, mean.shape)), value


class SquashedGaussianActor(Network):
    """SAC's actor for Box actions (CleanRL's sac_continuous_action): the mean and log-std of u,
    whose tanh, scaled into the action box, is the action. The log-std is squashed into
    [LOG_STD_MIN, LOG_STD_MAX] by a tanh: (mean [B, A], log_std [B, A])."""

    action_size: int
    obs_shape: tuple[int, ...]
    hidden: Sequence[int] = (256, 256)

    LOG_STD_MIN = -5.0
    LOG_STD_MAX = 2.0

    @nn.compact
    def __call__(self, obs):
        features = embed(obs, self.obs_shape, self.hidden)
        mean = nn.Dense(self.action_size)(features)
        log_std = jnp.tanh(nn.Dense(self.action_size)(features))
        return mean, self.LOG_STD_MIN + 0.5 * (self.LOG_STD_MAX - self.LOG_STD_MIN) * (log_std + 1.0)


class StateActionValue(Network):
    """Q(s, a) of Box actions: a ReLU MLP on the observation and the action side by side: [B]."""

    obs_shape: tuple[int, ...]
    hidden: Sequence[int] = (256, 256)

    @nn.compact
    def __call__(self, obs, action):
        x = jnp.concatenate([obs.reshape(obs.shape[0], -1).astype(jnp.float32), action], axis=-1)
        features = relu_mlp(x, self.hidden)
        return nn.Dense(1)(features)[..., 0]
