"""jaxrl: functional reinforcement learning in JAX, with EnvPool environments stepped inside jit."""

__version__ = "0.1.0"
