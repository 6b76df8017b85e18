"""Every algorithm passes the probe suite (tests/envs/probes.py: a one-step bandit, a two-step
chain with a delayed reward, a discounting check) in one short run: seconds each, before any
CartPole run, and a wrong return, target or mask fails here first (andyljones' probe envs)."""

import jax
import jax.numpy as jnp
import pytest

from jaxrl.functional import make_train, setup
from tests.envs.probes import GREEDY, NEXT, PROBE_GAMMA, Params, Probes

SEEDS = 3  # trained together: compiling is most of the cost, a run takes a fraction of a second
# Small runs of each algorithm, its classic preset otherwise; every one discounts by PROBE_GAMMA.
REPLAY = dict(num_envs=8, rollout_steps=8, buffer_size=2_048, batch_size=32, learning_starts=256, train_every=4)
SETTINGS = {
    "reinforce": dict(num_envs=8, rollout_steps=16, total_steps=8_192),
    "a2c": dict(total_steps=8_000),
    "ppo": dict(num_envs=8, rollout_steps=16, num_minibatches=1, update_epochs=4, total_steps=8_192),
    "dqn": dict(REPLAY, target_update_every=128, exploration_fraction=0.3, total_steps=8_192),
    "ddqn": dict(REPLAY, target_update_every=128, exploration_fraction=0.3, total_steps=8_192),
    "sac": dict(REPLAY, hidden=(64, 64), total_steps=8_192),
    "pqn": dict(
        num_envs=16,
        rollout_steps=8,
        num_minibatches=2,
        update_epochs=2,
        hidden=(64, 64),
        lr=1e-3,
        reward_scale=1.0,
        total_steps=32_768,
    ),
}


@pytest.mark.slow  # compiling takes ~10 s per algorithm here
@pytest.mark.parametrize("algo", SETTINGS)
def test_the_algorithm_learns_the_bandit_the_delayed_reward_and_the_discount(algo):
    options = dict(SETTINGS[algo], gamma=PROBE_GAMMA)
    train, hyper = make_train(algo, Probes(), Params(), **options)
    agent_states, _ = jax.jit(jax.vmap(train, in_axes=(0, None)))(jax.random.split(jax.random.key(0), SEEDS), hyper)
    preferences = jax.vmap(setup(algo, Probes(), Params(), options).agent.preferences, in_axes=(0, None))
    obs = jax.nn.one_hot(jnp.asarray(list(GREEDY)), len(NEXT))
    for seed, member in enumerate(preferences(agent_states, obs)):  # [states, actions] each
        greedy = dict(zip(GREEDY, jnp.argmax(member, axis=-1).tolist(), strict=True))
        assert greedy == GREEDY, (seed, member)
