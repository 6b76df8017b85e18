"""Flax networks: torsos that embed observations, and the heads algorithms put on them."""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def orthogonal(scale: float = np.sqrt(2)):
    return nn.initializers.orthogonal(scale)


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


class NatureCNN(nn.Module):
    """Mnih et al. (2015). Frames stay uint8 until here: scaling to [0, 1] is the first op.
    `layer_norm`: LayerNorm after every conv and the dense layer, before its ReLU."""

    layer_norm: bool = False

    @nn.compact
    def __call__(self, x):
        x = jnp.transpose(x, (0, 2, 3, 1)).astype(jnp.float32) / 255.0  # [B, C, H, W] -> NHWC
        for features, kernel, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
            x = nn.Conv(features, (kernel, kernel), (stride, stride), padding="VALID", kernel_init=orthogonal())(x)
            x = nn.relu(maybe_layer_norm(x, self.layer_norm))
        x = x.reshape(x.shape[0], -1)
        return nn.relu(maybe_layer_norm(nn.Dense(512, kernel_init=orthogonal())(x), self.layer_norm))


def is_image(obs_shape: tuple[int, ...]) -> bool:
    return len(obs_shape) == 3  # stacked frames [C, H, W]


def make_torso(obs_shape: tuple[int, ...], hidden: Sequence[int]) -> nn.Module:
    """Images get the Nature CNN; flat vectors an MLP."""
    return NatureCNN() if is_image(obs_shape) else MLP(tuple(hidden))


def unroll_gradient_loops(obs_shape: tuple[int, ...]) -> bool:
    """Whether loops of gradient steps (epochs, minibatches) should be unrolled.

    XLA's CPU backend runs a convolution's gradient about 10x slower inside a while loop than in
    straight-line code (measured: 16 Nature-CNN minibatch steps take 46 s as `lax.scan`, 4.1 s
    unrolled, on 2 cores). Unrolling costs compile time only, which the persistent cache keeps.
    """
    return is_image(obs_shape)


class ActorCritic(nn.Module):
    """Policy logits and state value. `shared` puts both heads on one torso (Atari, A2C)."""

    num_actions: int
    obs_shape: tuple[int, ...]
    hidden: Sequence[int] = (64, 64)
    shared: bool = True

    @nn.compact
    def __call__(self, obs) -> tuple[jax.Array, jax.Array]:
        actor_features = make_torso(self.obs_shape, self.hidden)(obs)
        critic_features = actor_features if self.shared else make_torso(self.obs_shape, self.hidden)(obs)
        logits = nn.Dense(self.num_actions, kernel_init=orthogonal(0.01))(actor_features)
        value = nn.Dense(1, kernel_init=orthogonal(1.0))(critic_features)
        return logits, value[..., 0]


class QNetwork(nn.Module):
    """Q(s, a) for every discrete action: the Nature CNN on frame stacks, a ReLU MLP on vectors.
    `layer_norm`: LayerNorm after every hidden layer (PQN), before its ReLU."""

    num_actions: int
    obs_shape: tuple[int, ...]
    hidden: Sequence[int] = (120, 84)
    layer_norm: bool = False

    @nn.compact
    def __call__(self, obs) -> jax.Array:
        if len(self.obs_shape) == 3:
            features = NatureCNN(self.layer_norm)(obs)
        else:
            features = obs.reshape(obs.shape[0], -1).astype(jnp.float32)
            for width in self.hidden:
                features = nn.relu(maybe_layer_norm(nn.Dense(width)(features), self.layer_norm))
        return nn.Dense(self.num_actions)(features)  # [B, num_actions]
