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


class NatureCNN(nn.Module):
    """Mnih et al. (2015). Frames stay uint8 until here: scaling to [0, 1] is the first op."""

    @nn.compact
    def __call__(self, x):
        x = jnp.transpose(x, (0, 2, 3, 1)).astype(jnp.float32) / 255.0  # [B, C, H, W] -> NHWC
        for features, kernel, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
            x = nn.Conv(features, (kernel, kernel), (stride, stride), padding="VALID", kernel_init=orthogonal())(x)
            x = nn.relu(x)
        x = x.reshape(x.shape[0], -1)
        return nn.relu(nn.Dense(512, kernel_init=orthogonal())(x))


class MinAtarCNN(nn.Module):
    """Young & Tian (2019), MinAtar's network: one 3x3 convolution of 16 channels (stride 1,
    "VALID"), then a dense layer of 128, both ReLU; [B, H, W, C] observations of 0s and 1s.

    The convolution is computed as a matrix product of its 3x3 patches with the kernel (the same
    numbers): XLA's CPU backend runs a convolution inside a loop (the fused training program is
    one) about 6x slower than outside it, a matrix product at full speed."""

    features: int = 16
    kernel_size: int = 3

    @nn.compact
    def __call__(self, x):
        x = x.astype(jnp.float32)
        k, channels = self.kernel_size, x.shape[-1]
        height, width = x.shape[1] - k + 1, x.shape[2] - k + 1
        patches = jnp.concatenate(
            [x[:, i : i + height, j : j + width, :] for i in range(k) for j in range(k)], axis=-1
        )  # [B, H', W', k*k*C], ordered as the kernel's (row, column, channel)
        kernel = self.param("kernel", orthogonal(), (k, k, channels, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        x = nn.relu(patches @ kernel.reshape(k * k * channels, self.features) + bias)
        return nn.relu(nn.Dense(128, kernel_init=orthogonal())(x.reshape(x.shape[0], -1)))


def is_image(obs_shape: tuple[int, ...]) -> bool:
    return len(obs_shape) == 3  # stacked frames [C, H, W], or a JAX env's image [H, W, C]


def channels_last(obs_shape: tuple[int, ...]) -> bool:
    """An image [H, W, C] (MinAtar's [10, 10, C], Seaquest's [10, 10, 10] included) rather than a
    frame stack [C, H, W] (Atari's [4, 84, 84]: fewer channels than columns)."""
    return is_image(obs_shape) and not obs_shape[0] < obs_shape[-1]


def image_torso(obs_shape: tuple[int, ...]) -> nn.Module:
    """Channels first (Atari's frame stacks [4, 84, 84]): the Nature CNN; channels last
    (MinAtar's [10, 10, C]): the MinAtar CNN."""
    return MinAtarCNN() if channels_last(obs_shape) else NatureCNN()


def make_torso(obs_shape: tuple[int, ...], hidden: Sequence[int], cnn: bool = True) -> nn.Module:
    """Images get a CNN (image_torso) unless `cnn` is False; flat vectors an MLP."""
    return image_torso(obs_shape) if is_image(obs_shape) and cnn else MLP(tuple(hidden))


def unroll_gradient_loops(obs_shape: tuple[int, ...]) -> bool:
    """Whether loops of gradient steps (epochs, minibatches) should be unrolled.

    XLA's CPU backend runs a convolution's gradient about 10x slower inside a while loop than in
    straight-line code (measured: 16 Nature-CNN minibatch steps take 46 s as `lax.scan`, 4.1 s
    unrolled, on 2 cores). Unrolling costs compile time only, which the persistent cache keeps.
    The MinAtar CNN has no convolution op (see MinAtarCNN): its loops stay loops.
    """
    return is_image(obs_shape) and not channels_last(obs_shape)


class ActorCritic(nn.Module):
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


class QNetwork(nn.Module):
    """Q(s, a) for every discrete action: a CNN on images (image_torso), a ReLU MLP on vectors."""

    num_actions: int
    obs_shape: tuple[int, ...]
    hidden: Sequence[int] = (120, 84)

    @nn.compact
    def __call__(self, obs) -> jax.Array:
        if is_image(self.obs_shape):
            features = image_torso(self.obs_shape)(obs)
        else:
            features = obs.reshape(obs.shape[0], -1).astype(jnp.float32)
            for width in self.hidden:
                features = nn.relu(nn.Dense(width)(features))
        return nn.Dense(self.num_actions)(features)  # [B, num_actions]
