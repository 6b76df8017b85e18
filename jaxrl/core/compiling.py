"""`jit_once`: jit for a program that runs once or a few times per run (the initial state, an
env's first reset, the greedy games of an evaluation), where the compile is nearly all it costs."""

import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

# XLA:CPU's LLVM at optimisation level 1 instead of its default 2: the flax init of gymnax
# CartPole's 5 members (orthogonal kernels: QR, threefry) compiles in 1.0 CPU s instead of 2.0,
# with bit-identical results (checkpoint digests and greedy scores of gymnax CartPole,
# Breakout-MinAtar and MPE runs unchanged). Level 0 changes the parameters; the training programs
# keep level 2, which they run thousands of times (at level 1 CartPole's fused chunk rounds
# differently). BENCHMARKS "Fused loop vs rejax, cold". Other backends keep their defaults.
ONCE_OPTIONS = {"xla_backend_optimization_level": 1}


def jit_once(fun: Callable | None = None, **jit_kwargs: Any) -> Callable:
    """`jax.jit(fun, **jit_kwargs)` compiled at ONCE_OPTIONS on CPU; usable as a decorator with
    or without arguments. Called inside another trace (`jax.eval_shape` of a function that makes
    a run's state), it is a plain jit: JAX refuses compiler options on a nested jit."""
    if fun is None:
        return functools.partial(jit_once, **jit_kwargs)
    plain = jax.jit(fun, **jit_kwargs)
    if jax.default_backend() != "cpu":
        return plain
    once = jax.jit(fun, compiler_options=ONCE_OPTIONS, **jit_kwargs)

    @functools.wraps(fun)
    def call(*args, **kwargs):
        traced = any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves((args, kwargs)))
        return (plain if traced else once)(*args, **kwargs)

    return call


def device_argument(values, dtype) -> jax.Array:
    """`values` as a program's argument of `dtype`: a JAX array (traced or not) as it is, a list or
    a NumPy array put on the device. `jnp.asarray` would compile an eager conversion program
    (cold, ~10-25 ms); `device_put` only copies, and inside a trace gives a tracer, so that a
    nested `jit_once` sees it is nested."""
    if isinstance(values, jax.Array):
        return values if values.dtype == dtype else values.astype(dtype)
    return jax.device_put(np.asarray(values, dtype))
