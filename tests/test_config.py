"""The run config: settings declared once (their --help, defaults and validation derived from the
declaration), the typed Static, Hyper, sweep and PBT records, and config.json round trips."""

import dataclasses
import json

import pytest

from jaxrl.algos import get_algorithm
from jaxrl.api import saved_config
from jaxrl.config import RUN_DEFAULTS, RUN_FLAGS, RunSettings, resolve, setting_help
from jaxrl.errors import ConfigError, did_you_mean
from jaxrl.search import Range, pbt_plan, plan


def test_a_settings_help_default_and_type_come_from_its_declaration():
    fields = {f.name: f for f in dataclasses.fields(RunSettings)}
    assert RUN_DEFAULTS["eval_episodes"] == fields["eval_episodes"].default == 10
    assert RUN_FLAGS["eval_every"] == (int, setting_help(fields["eval_every"]))
    assert RUN_FLAGS["eval_every"][1].endswith("(default: never)")
    assert RUN_FLAGS["keep_checkpoints"][1].endswith("(default: 3)") and RUN_FLAGS["force"][0] is bool


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"eval_episodes": 0}, "invalid --eval-episodes 0: must be an integer >= 1"),
        ({"seed": -1}, "invalid --seed -1: must be an integer >= 0"),
        ({"env_threads": -1}, "invalid --env-threads -1: must be an integer >= 0"),
        ({"target_return": float("nan")}, "invalid --target-return nan: must be a finite number"),
    ],
)
def test_each_declared_setting_is_validated_in_one_line(options, message):
    with pytest.raises(ConfigError) as error:
        resolve(get_algorithm("ppo"), options)
    assert str(error.value) == message


def test_the_config_holds_typed_static_and_hyper_and_writes_the_same_json(tmp_path):
    algorithm = get_algorithm("ppo")
    config = resolve(algorithm, {"num_envs": 4, "lr": 1e-3, "logdir": str(tmp_path), "name": "a"})
    assert isinstance(config.static, algorithm.Static) and isinstance(config.hyper, algorithm.Hyper)
    assert config.static.num_envs == 4 and config.hyper.lr == 1e-3 and config.spec.obs_shape == (4,)
    record = json.loads(json.dumps(config.to_json()))
    assert record["static"]["num_envs"] == 4 and record["hyper"]["lr"] == 1e-3 and "spec" not in record
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps(record))
    assert saved_config(run_dir) == config


def test_sweep_and_pbt_records_are_typed_and_read_back_from_config_json(tmp_path):
    algorithm = get_algorithm("ppo")
    options = {"logdir": str(tmp_path), "total_steps": 20_000}
    swept = plan(algorithm, options | {"name": "s"}, {"lr": [1e-4, 1e-3]})
    tuned = pbt_plan(algorithm, options | {"name": "p", "population": 4}, {"lr": Range(1e-4, 1e-3, True)})
    assert swept.sweep.points == [{"lr": 1e-4}, {"lr": 1e-3}] and tuned.pbt.population == 4
    for config in (swept, tuned):
        run_dir = tmp_path / config.name
        run_dir.mkdir()
        (run_dir / "config.json").write_text(json.dumps(config.to_json()))
        assert saved_config(run_dir) == config


def test_did_you_mean_names_the_closest_candidate_or_nothing():
    assert did_you_mean("pppo", ["ppo", "dqn"]) == "; did you mean 'ppo'?"
    assert did_you_mean("--ent-coeff", ["--ent-coef"], quote="") == "; did you mean --ent-coef?"
    assert did_you_mean("xyz", ["ppo"]) == ""
