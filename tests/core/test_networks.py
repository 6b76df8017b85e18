"""The Nature CNN's two forms (lax's convolutions, patch matrix products) are one network: the
same parameters, the same outputs and gradients up to float rounding."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.core.networks import NatureCNN, convolutions_as_matmuls, patch_convolution


def test_patch_convolution_equals_lax_convolution_for_strides_that_divide_the_kernel():
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 23, 21, 3))  # rows and columns no output reads
    for k, stride in ((8, 4), (4, 2), (3, 1), (2, 2)):
        kernel = jax.random.normal(jax.random.PRNGKey(k), (k, k, 3, 5))
        expected = jax.lax.conv_general_dilated(
            x, kernel, (stride, stride), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        np.testing.assert_allclose(patch_convolution(x, kernel, stride), expected, rtol=1e-4, atol=1e-4)


def test_the_nature_cnn_as_matmuls_has_the_same_parameters_outputs_and_gradients():
    obs = jax.random.randint(jax.random.PRNGKey(0), (3, 4, 84, 84), 0, 256).astype(jnp.uint8)
    matmuls, convolutions = NatureCNN(layer_norm=True, as_matmuls=True), NatureCNN(layer_norm=True, as_matmuls=False)
    params = matmuls.init(jax.random.PRNGKey(1), obs)
    jax.tree.map(np.testing.assert_array_equal, params, convolutions.init(jax.random.PRNGKey(1), obs))
    np.testing.assert_allclose(matmuls.apply(params, obs), convolutions.apply(params, obs), rtol=1e-4, atol=1e-5)

    def gradient(network):
        return jax.grad(lambda p: jnp.sum(network.apply(p, obs) ** 2))(params)

    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4), gradient(matmuls), gradient(convolutions)
    )


def test_xla_cpu_gets_matmuls():
    assert convolutions_as_matmuls() == (jax.default_backend() == "cpu")
