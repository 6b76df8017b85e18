"""Every CartPole preset reaches its target at 5x its step budget too (seed 0; 1x is each
algorithm's learning test): users change the budget first, and schedules that stretch with it
(exploration, lr decay) are the usual trap. experiments/bench.py --only presets: 5 seeds, 1x and 5x."""

import pytest

from jaxrl.algos import MODULES, get_algorithm
from jaxrl.config import resolve
from tests.conftest import train

CARTPOLE_PRESETS = [name for name in MODULES if resolve(get_algorithm(name), {"env": "CartPole"}).target_return]


@pytest.mark.slow
@pytest.mark.parametrize("algo", CARTPOLE_PRESETS)
def test_the_cartpole_preset_reaches_its_target_at_5x_its_budget(algo, tmp_path):
    algorithm = get_algorithm(algo)
    budget = resolve(algorithm, {"env": "CartPole"}).total_steps
    config = resolve(algorithm, {"env": "CartPole", "seed": 0, "total_steps": 5 * budget, "logdir": str(tmp_path)})
    run = train(config)["runs"][0]
    assert run["steps_to_target"] is not None, run
