"""The public functional core: `train(key, hyper)` is pure, vmaps over keys and hyperparameters
in one compiled program, learns CartPole in gymnax, and bad input fails in one line before
anything is traced. The README's example runs as written."""

import re
from pathlib import Path

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.errors import ConfigError
from jaxrl.functional import HOST_ENV, make_evaluate, make_train
from tests.envs.probes import Bandit, Params

README = Path(__file__).resolve().parent.parent / "README.md"
TINY = dict(num_envs=2, rollout_steps=8, num_minibatches=1, update_epochs=1, total_steps=32)  # 2 iterations


def test_train_is_pure_a_key_repeats_its_run_and_another_key_differs():
    train, hyper = make_train("ppo", Bandit(), Params(horizon=4), **TINY)
    run = jax.jit(train)
    first, again = run(jax.random.key(0), hyper), run(jax.random.key(0), hyper)
    other = run(jax.random.key(1), hyper)
    jax.tree.map(np.testing.assert_array_equal, first, again)
    assert first[1]["env_steps"].tolist() == [16, 32]
    assert not np.array_equal(
        first[0].params["params"]["Dense_0"]["kernel"], other[0].params["params"]["Dense_0"]["kernel"]
    )


def test_vmapping_over_learning_rates_compiles_once_and_each_rate_counts():
    train, hyper = make_train("ppo", "CartPole-v1", **TINY)
    traces = []

    def over_rates(rates):
        traces.append(rates.shape)  # runs when traced, never when a compiled program runs
        return jax.vmap(lambda lr: train(jax.random.key(0), hyper.replace(lr=lr)))(rates)

    run = jax.jit(over_rates)
    states, _ = run(jnp.array([1e-4, 1e-2]))
    again, _ = run(jnp.array([1e-2, 1e-4]))  # new values, the same program
    assert len(traces) == 1 and run._cache_size() == 1
    kernel = states.params["params"]["Dense_0"]["kernel"]
    assert not np.array_equal(kernel[0], kernel[1])  # the rate reached the update
    np.testing.assert_allclose(again.params["params"]["Dense_0"]["kernel"][::-1], kernel, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_eight_vmapped_seeds_of_gymnax_cartpole_play_greedily_to_475_within_100k_steps():
    train, hyper = make_train("ppo", "CartPole-v1", total_steps=100_000)
    evaluate = make_evaluate("ppo", "CartPole-v1", episodes=10)
    states, metrics = jax.jit(jax.vmap(train, in_axes=(0, None)))(jax.random.split(jax.random.key(0), 8), hyper)
    assert metrics["env_steps"].shape == (8, 390) and int(metrics["env_steps"][0, -1]) <= 100_000
    returns = jax.jit(jax.vmap(evaluate))(jax.random.split(jax.random.key(1), 8), states)  # [8 seeds, 10 games]
    assert float(returns.mean()) >= 475, returns.mean(axis=1)


@pytest.mark.parametrize(
    "env, options, message",
    [
        ("Pong", {}, HOST_ENV),
        ("CartPole-v1", {"backend": "envpool"}, HOST_ENV),
        (gymnasium.make("CartPole-v1"), {}, HOST_ENV),
        ("CartPole-v1", {"seeds": 4}, "make_train takes no --seeds: a pure train(key, hyper) takes env, backend"),
        ("CartPole-v1", {"lr": -1.0}, "invalid --lr -1.0: must be > 0"),
        ("CartPol-v1", {}, "unknown env 'CartPol-v1' in gymnax; did you mean 'CartPole-v1'?"),
        ("CartPole-v1", {"learning_rate": 1e-3}, "unknown flag --learning-rate for jaxrl train ppo"),
    ],
)
def test_bad_input_fails_in_one_line_before_anything_is_traced(env, options, message):
    with pytest.raises(ConfigError) as error:
        make_train("ppo", env, **options)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def functional_example() -> str:
    match = re.search(r"<!-- functional-example -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert match, "README.md has no python block after <!-- functional-example -->"
    return match.group(1)


@pytest.mark.slow
def test_the_readme_functional_example_runs_as_written():
    source = functional_example()
    assert len(source.strip().splitlines()) <= 10
    scope: dict = {}
    exec(compile(source, "README.md", "exec"), scope)
    assert scope["metrics"]["episode_return"].shape[:2] == (4, 8)
    assert scope["returns"].shape == (4, 8, 10)
