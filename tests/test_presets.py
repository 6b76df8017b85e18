"""Preset tables: a family's machine table (`[atari.cores.16]`) applies on machines with at least
that many cores, and flags still win. (The learning tests of the presets themselves, 1x and 5x
their budgets, are tests/algos/test_cartpole.py.)"""

from types import SimpleNamespace

import tomllib

from jaxrl import config
from jaxrl.algos import get_algorithm
from jaxrl.config import machine_preset, resolve


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
    assert (resolved.static.num_envs, resolved.env_groups) == (16, 2)
    assert resolve(get_algorithm("ppo"), {"env": "Pong", "num_envs": 4}).static.num_envs == 4
    monkeypatch.setattr(config, "machine_cores", lambda: 1)
    assert resolve(get_algorithm("ppo"), {"env": "Pong"}).static.num_envs == 8


def test_gymnax_cartpole_trains_one_hidden_layer_and_envpools_keeps_its_table_at_a_larger_lr():
    # a JAX env's CartPole is compute-bound in its fused program (BENCHMARKS "gymnax CartPole: one
    # hidden layer"): one hidden layer and 8 gradient steps of 32 per rollout; EnvPool's is
    # host-bound (BENCHMARKS "Start-up: CartPole PPO's preset and scipy")
    gymnax = config.load_preset("ppo", "CartPole-v1", "classic", "gymnax")
    envpool = config.load_preset("ppo", "CartPole-v1", "classic", "envpool")
    assert (gymnax["hidden"], gymnax["update_epochs"], gymnax["num_minibatches"], gymnax["lr"]) == ([64], 1, 8, 8e-3)
    assert (envpool["update_epochs"], envpool["num_minibatches"], envpool["lr"]) == (20, 1, 3e-3)
    assert config.load_preset("ppo", "CartPole-v1", "classic", "gymnasium")["lr"] == 1e-3
    assert "hidden" not in envpool  # the Static default, two layers of 64
