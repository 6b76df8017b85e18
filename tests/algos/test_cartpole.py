"""Every algorithm with a CartPole preset learns it: seed 0 reaches the preset's target within the
preset's step budget (1x), and within 5x that budget too: users change the budget first, and
schedules that stretch with it (exploration, lr decay) are the usual trap. A run stops at its
target, so a 5x run costs about what a 1x run does. experiments/bench.py --only presets: 5 seeds."""

import pytest

from jaxrl.algos import MODULES, MULTI_AGENT_ONLY, get_algorithm
from jaxrl.config import resolve
from tests.conftest import train

SINGLE_AGENT = [name for name in MODULES if name not in MULTI_AGENT_ONLY]  # ippo refuses CartPole
CARTPOLE_PRESETS = [name for name in SINGLE_AGENT if resolve(get_algorithm(name), {"env": "CartPole"}).target_return]
# Tighter than the budget, where an algorithm is known to be faster (its preset's notes)
WITHIN = {"pqn": 50_000}


@pytest.mark.slow
@pytest.mark.parametrize("budget", [1, 5])
@pytest.mark.parametrize("algo", CARTPOLE_PRESETS)
def test_the_cartpole_preset_reaches_its_target_within_its_budget(algo, budget, tmp_path):
    algorithm = get_algorithm(algo)
    steps = budget * resolve(algorithm, {"env": "CartPole"}).total_steps
    config = resolve(algorithm, {"env": "CartPole", "seed": 0, "total_steps": steps, "logdir": str(tmp_path)})
    run = train(config)["runs"][0]
    assert run["steps_to_target"] is not None, run
    if budget == 1 and algo in WITHIN:
        assert run["steps_to_target"] <= WITHIN[algo], run


def test_every_algorithm_has_a_cartpole_preset():
    assert sorted(CARTPOLE_PRESETS) == sorted(SINGLE_AGENT)
