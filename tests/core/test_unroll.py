"""Loops of gradient steps are unrolled only for lax's convolutions on XLA:CPU (the Nature CNN's
patch matmuls there keep them), unless JAXRL_UNROLL says otherwise; a bad JAXRL_UNROLL is refused in one line before anything is built."""

import pytest

from jaxrl.api import enable_compilation_cache
from jaxrl.core import networks
from jaxrl.core.networks import unroll_gradient_loops
from jaxrl.errors import ConfigError

ATARI, MINATAR, VECTOR = (4, 84, 84), (10, 10, 4), (4,)


def test_only_lax_convolutions_on_cpu_are_unrolled(monkeypatch):
    monkeypatch.delenv("JAXRL_UNROLL", raising=False)
    assert [unroll_gradient_loops(shape) for shape in (ATARI, MINATAR, VECTOR)] == [False, False, False]
    monkeypatch.setattr(networks, "convolutions_as_matmuls", lambda: False)  # lax's convolution on XLA:CPU
    assert [unroll_gradient_loops(shape) for shape in (ATARI, MINATAR, VECTOR)] == [True, False, False]
    monkeypatch.setattr("jax.default_backend", lambda: "gpu")
    assert not unroll_gradient_loops(ATARI)


@pytest.mark.parametrize("choice, unrolled", [("loops", False), ("unrolled", True)])
def test_jaxrl_unroll_forces_the_choice(monkeypatch, choice, unrolled):
    monkeypatch.setenv("JAXRL_UNROLL", choice)
    assert [unroll_gradient_loops(shape) for shape in (ATARI, VECTOR)] == [unrolled, unrolled]


def test_a_bad_jaxrl_unroll_is_refused(monkeypatch):
    monkeypatch.setenv("JAXRL_UNROLL", "sometimes")
    with pytest.raises(ConfigError, match="JAXRL_UNROLL='sometimes': expected one of auto, loops, unrolled"):
        enable_compilation_cache()
