"""Action masks in every discrete algorithm: trained on a tiny JAX env whose legal actions change
from state to state (random masks), no algorithm ever takes an illegal action, sampled, greedy or
exploring. The env reports its masks as a gymnax-API env does (`action_mask(state, params)`), so
this also runs jaxrl.envs.gymnax's mask reading and the loop's threading of `Step.info`."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.core import buffers
from jaxrl.envs.memory import spaces
from jaxrl.errors import ConfigError
from jaxrl.functional import make_evaluate, make_train, setup

CELLS, ACTIONS, LENGTH, PENALTY = 5, 4, 4, -100.0
RNG = np.random.default_rng(0)
# random legal actions per cell, at least one each; action 3 is legal nowhere but cell 0 and is
# what an unmasked policy would pick (it pays most), so a leak shows
MASKS = RNG.random((CELLS, ACTIONS)) < 0.5
MASKS[np.arange(CELLS), RNG.integers(0, ACTIONS - 1, CELLS)] = True
MASKS[:, 3] = False
MASKS[0, 3] = True


class Params(NamedTuple):
    masks: jax.Array = jnp.asarray(MASKS)


class State(NamedTuple):
    time: jax.Array  # int32
    cell: jax.Array  # int32


class MaskedCells:
    """Obs: the cell one-hot [CELLS]. Each step pays 1 + action / 10 for a legal action and ends
    the episode with PENALTY for an illegal one; the next cell is random; LENGTH steps an
    episode. An episode's return is LENGTH + a bonus < 1.2 only if every action was legal."""

    @property
    def default_params(self) -> Params:
        return Params()

    def reset(self, key, params):
        state = State(jnp.zeros((), jnp.int32), jax.random.randint(key, (), 0, CELLS))
        return jax.nn.one_hot(state.cell, CELLS), state

    def step(self, key, state, action, params):
        legal = params.masks[state.cell, action]
        reward = jnp.where(legal, 1.0 + action / 10.0, PENALTY)
        done = ~legal | (state.time == LENGTH - 1)
        moved = State(state.time + 1, jax.random.randint(key, (), 0, CELLS))
        reset_obs, reset_state = self.reset(jax.random.fold_in(key, 1), params)
        new_state = jax.tree.map(lambda fresh, old: jnp.where(done, fresh, old), reset_state, moved)
        obs = jax.nn.one_hot(new_state.cell, CELLS)
        return obs, new_state, reward, done, jnp.zeros((), bool), {}

    def action_mask(self, state, params):
        return params.masks[state.cell]

    def observation_space(self, params):
        return spaces().Box(0.0, 1.0, (CELLS,), jnp.float32)

    def action_space(self, params=None):
        return spaces().Discrete(ACTIONS)


SMALL = dict(num_envs=4, rollout_steps=8, total_steps=1_024)
REPLAY = dict(SMALL, buffer_size=512, batch_size=16, learning_starts=64, train_every=4, target_update_every=32)
SETTINGS = {
    "ppo": dict(SMALL, num_minibatches=2, update_epochs=2),
    "a2c": SMALL,
    "reinforce": SMALL,
    "impala": SMALL,
    "pqn": dict(SMALL, num_minibatches=2, update_epochs=2, exploration_fraction=0.5),
    "dqn": dict(REPLAY, exploration_fraction=0.5),
    "ddqn": dict(REPLAY, exploration_fraction=0.5),
    # uniform over the legal actions until learning_starts, then sampled from the masked policy
    "sac": REPLAY,
    # greedy from the start: every action is the masked argmax
    "pqn-greedy": dict(SMALL, num_minibatches=2, update_epochs=2, start_e=0.0, end_e=0.0),
    "dqn-greedy": dict(REPLAY, start_e=0.0, end_e=0.0),
    # recurrent learners take the masks of whole sequences
    "ppo-gru": dict(SMALL, num_minibatches=2, update_epochs=2, recurrent="gru", recurrent_size=16),
    "pqn-gru": dict(
        SMALL, num_minibatches=2, update_epochs=2, start_e=0.0, end_e=0.0, recurrent="gru", recurrent_size=16
    ),
}


@pytest.mark.parametrize("name", SETTINGS)
def test_no_algorithm_takes_an_illegal_action(name):
    algo = name.split("-")[0]
    train, hyper = make_train(algo, MaskedCells(), **SETTINGS[name])
    _, metrics = jax.jit(train)(jax.random.key(0), hyper)
    returns = np.asarray(metrics["episode_return"])
    returns = returns[~np.isnan(returns)]
    assert returns.size > 0
    # every episode ran its LENGTH legal steps: no PENALTY anywhere
    assert returns.min() >= LENGTH, (name, returns.min())


def test_the_replay_keeps_each_next_obs_mask_for_the_bootstrap():
    steps, envs = 6, 3
    masks = jnp.asarray(RNG.random((steps + 1, envs, ACTIONS)) < 0.5)  # the last row: last_obs's
    replay = buffers.init(16, envs, (CELLS,), "float32", masked_actions=ACTIONS)
    obs = jnp.broadcast_to(jnp.arange(steps + 1.0)[:, None, None], (steps + 1, envs, CELLS))
    zeros = jnp.zeros((steps, envs))
    replay = buffers.add(
        replay,
        obs[:-1],
        zeros.astype(int),
        zeros,
        zeros.astype(bool),
        ~zeros.astype(bool),
        obs[-1],
        (masks[:-1], masks[-1]),
    )
    batch = buffers.sample(replay, jax.random.key(0), 64)
    np.testing.assert_array_equal(batch.next_action_mask, masks[batch.time + 1, batch.env])
    np.testing.assert_array_equal(batch.action_mask, masks[batch.time, batch.env])
    assert buffers.init(16, envs, (CELLS,), "float32").action_mask is None  # unmasked: the layout as before


class Stuck(MaskedCells):
    """Cell 4 allows no action."""

    @property
    def default_params(self) -> Params:
        return Params(jnp.asarray(MASKS).at[4].set(False))


def test_a_state_without_a_legal_action_stops_the_run_in_one_line(tmp_path):
    with pytest.raises(
        ConfigError, match=r"^Stuck.s action mask allowed no action in a state before env step [\d,]+: "
    ) as caught:
        jaxrl.train("ppo", env=Stuck(), logdir=str(tmp_path), loggers=[], **SETTINGS["ppo"])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("algo", ["ppo", "dqn", "sac"])
def test_greedy_evaluation_plays_legal_actions_only(algo):
    # an untrained network's argmax is often illegal here: only the mask keeps it legal
    _, hyper = make_train(algo, MaskedCells(), **SETTINGS[algo])
    state = setup(algo, MaskedCells(), None, SETTINGS[algo]).agent.init(jax.random.key(1), hyper)
    evaluate = make_evaluate(algo, MaskedCells(), episodes=16, **SETTINGS[algo])
    returns = np.asarray(jax.jit(evaluate)(jax.random.key(2), state))
    assert returns.min() >= LENGTH, returns
