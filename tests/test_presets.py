"""Every CartPole preset reaches its target at 5x its step budget too (seed 0; 1x is each
algorithm's learning test): users change the budget first, and schedules that stretch with it
(exploration, lr decay) are the usual trap. experiments/bench.py --only presets: 5 seeds, 1x and 5x."""

from types import SimpleNamespace

import pytest
import tomllib

from jaxrl import config
from jaxrl.algos import MODULES, get_algorithm
from jaxrl.config import machine_preset, resolve
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


def test_a_familys_machine_table_applies_from_its_core_count_on():
    by_cores = {"8": {"num_envs": 16}, "16": {"num_envs": 32, "env_groups": 2}}
    assert machine_preset(by_cores, 4) == {}
    assert machine_preset(by_cores, 8) == machine_preset(by_cores, 15) == {"num_envs": 16}
    assert machine_preset(by_cores, 64) == {"num_envs": 32, "env_groups": 2}


def test_a_machine_table_in_a_preset_sets_its_fields_and_flags_still_win(monkeypatch):
    text = "[atari]\nnum_envs = 8\n[atari.cores.2]\nnum_envs = 16\nenv_groups = 2\n"
    monkeypatch.setattr(config, "tomllib", SimpleNamespace(loads=lambda _: tomllib.loads(text)))  # every algo's file
    monkeypatch.setattr(config, "machine_cores", lambda: 2)
    resolved = resolve(get_algorithm("ppo"), {"env": "Pong"})
    assert (resolved.static["num_envs"], resolved.env_groups) == (16, 2)
    assert resolve(get_algorithm("ppo"), {"env": "Pong", "num_envs": 4}).static["num_envs"] == 4
    monkeypatch.setattr(config, "machine_cores", lambda: 1)
    assert resolve(get_algorithm("ppo"), {"env": "Pong"}).static["num_envs"] == 8
