"""Population-based training: the tuner's decisions (the bottom copy the top, explore stays inside
the ranges, its state round-trips through JSON), the exploit step on the device (the parents'
networks bit for bit, nothing else), a member never copied training bit-identically to the same
member of a sweep, and a resumed PBT run continuing its lineage bit-identically."""

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np
import pytest

import jaxrl
from jaxrl.algos import get_algorithm
from jaxrl.analysis import compare
from jaxrl.config import PBT
from jaxrl.search import Range, parse_values, pbt_plan
from jaxrl.training.fleet import Fleet
from jaxrl.training.pbt import Tuner
from jaxrl.training.population import pbt_population
from tests.conftest import train
from tests.training.test_checkpoints import jax_leaves, saved_arrays

RANGES = {"lr": Range(1e-5, 1e-2, True)._asdict(), "ent_coef": Range(0.0, 0.05, False)._asdict()}


def settings_of(population: int, resample: float) -> PBT:
    return PBT(
        population=population,
        ready_every=1,
        resample_probability=resample,
        perturb=(0.8, 1.2),
        ranges=RANGES,
        points=[],
    )


def tuner(population=8, resample=0.25, members=8, seed=0):
    settings = settings_of(population, resample)
    initial = {
        "lr": np.geomspace(1e-5, 1e-2, members),
        "ent_coef": np.linspace(0, 0.05, members),
        "gamma": [0.99] * members,
    }
    return Tuner(settings, initial, seed)


def test_the_bottom_quarter_copies_the_top_quarter_and_nan_ranks_last():
    scores = np.array([5.0, np.nan, 7.0, 1.0, 9.0, 8.0, 3.0, 6.0])
    decision = tuner().step(scores, env_steps=100)
    assert sorted(decision.children) == [1, 3]  # NaN (diverged or no episode yet) and the lowest
    assert set(decision.parents) <= {4, 5}
    # with several populations (seeds), each ranks and copies within itself
    two = tuner(population=4).step(np.array([1.0, 2.0, 3.0, 4.0, 40.0, 30.0, 20.0, 10.0]), env_steps=100)
    assert list(two.children) == [0, 7] and list(two.parents) == [3, 4]


def test_explore_perturbs_or_resamples_within_the_ranges_and_leaves_the_others_alone():
    pbt = tuner(resample=0.5)
    rng = np.random.default_rng(1)
    for step in range(1, 60):
        before = {name: values.copy() for name, values in pbt.hyper.items()}
        decision = pbt.step(rng.normal(size=8), env_steps=step)
        for name, span in RANGES.items():
            values = decision.hyper[name]
            assert (values >= np.float32(span["low"])).all() and (values <= np.float32(span["high"])).all()
            untouched = np.setdiff1d(np.arange(8), decision.children)
            np.testing.assert_array_equal(values[untouched], before[name][untouched])
        np.testing.assert_array_equal(decision.hyper["gamma"], before["gamma"])  # not tuned
    lineage = pbt.lineage
    assert all(event["parent"] is None for event in (events[0] for events in lineage))
    assert sum(len(events) - 1 for events in lineage) == 59 * 2
    # a perturbation is the parent's value times 0.8 or 1.2 (where not clipped nor resampled)
    fresh = tuner(resample=0.0)
    parent_lr = {m: float(fresh.hyper["lr"][m]) for m in range(8)}
    decision = fresh.step(np.arange(8.0), env_steps=1)
    for child, parent in zip(decision.children, decision.parents, strict=True):
        ratio = float(decision.hyper["lr"][child]) / parent_lr[parent]
        assert min(abs(ratio - 0.8), abs(ratio - 1.2)) < 1e-5 or decision.hyper["lr"][child] in (1e-5, 1e-2)


def test_the_tuner_round_trips_through_json_and_decides_as_if_never_stopped():
    whole, stopped = tuner(), tuner()
    scores = np.random.default_rng(2).normal(size=(6, 8))
    for row in scores[:3]:
        whole.step(row, 1)
        stopped.step(row, 1)
    resumed = Tuner(settings_of(8, 0.25), {}, 0, json.loads(json.dumps(stopped.to_json())))
    for row in scores[3:]:
        a, b = whole.step(row, 2), resumed.step(row, 2)
        np.testing.assert_array_equal(a.children, b.children)
        np.testing.assert_array_equal(a.parents, b.parents)
        for name in a.hyper:
            np.testing.assert_array_equal(a.hyper[name], b.hyper[name])
    assert whole.lineage == resumed.lineage


def planned(tmp_path, algo, name, values, population=4, **options):
    algorithm = get_algorithm(algo)
    options = {"logdir": str(tmp_path), "name": name, "target_return": 1e9, "population": population, **options}
    fields = {f.name: f for f in dataclasses.fields(algorithm.Hyper)}
    parsed = {key: parse_values(fields[key], text) for key, text in values.items()}
    return pbt_plan(algorithm, options, parsed)


BANDIT_DQN = dict(env="tests.envs.probes:make_bandit", total_steps=2048, learning_starts=64, buffer_size=512)


@pytest.mark.parametrize("copy_replay", [True, False])
def test_exploit_copies_exactly_the_parents_networks_and_nothing_else(tmp_path, copy_replay):
    config = planned(
        tmp_path, "dqn", "exploit", {"lr": "1e-4:1e-2:log"}, ready_every=512, copy_replay=copy_replay, **BANDIT_DQN
    )
    algorithm = get_algorithm("dqn")
    fleet = Fleet(config, pbt_population(algorithm, config), 0)
    try:
        fleet.init()
        fleet.train_chunk(4)  # the replay and the networks differ member by member
        state = fleet.states[0]
        fleet.states[0] = state.replace(diverged_at=state.diverged_at.at[0].set(96))  # member 0 diverged
        before = jax.device_get(fleet.states[0])
        fleet.exploit(np.array([0, 1]), np.array([3, 2]), copy_replay)
        after = jax.device_get(fleet.states[0])
    finally:
        fleet.close()
    copied = set(algorithm.networks) | ({algorithm.replay} if copy_replay else set())
    for name in vars(before.agent):
        for old, new in zip(
            jax_leaves(getattr(before.agent, name)), jax_leaves(getattr(after.agent, name)), strict=True
        ):
            expected = old.copy()
            if name in copied:
                expected[[0, 1]] = old[[3, 2]]
            np.testing.assert_array_equal(new, expected, err_msg=name)
    assert any(not np.array_equal(a[0], a[3]) for a in jax_leaves(before.agent.params))  # (the copy is visible)
    for name in ("obs", "prev_done", "episodes", "recent", "key", "env_steps"):
        for old, new in zip(jax_leaves(getattr(before, name)), jax_leaves(getattr(after, name)), strict=True):
            np.testing.assert_array_equal(new, old, err_msg=name)
    assert list(after.diverged_at) == [-1, -1, -1, -1]  # the diverged member is replaced: it learns again


GYMNAX_PPO = dict(env="CartPole", backend="gymnax", num_envs=4, rollout_steps=32, update_epochs=2, log_every=256)


@pytest.mark.slow
def test_a_member_never_copied_trains_bit_identically_to_the_same_member_of_a_sweep(tmp_path):
    config = planned(
        tmp_path, "ppo", "pbt", {"lr": "1e-4:1e-2:log", "ent_coef": "0:0.05"}, ready_every=512, total_steps=2048,
        **GYMNAX_PPO,
    )  # fmt: skip
    algorithm = get_algorithm("ppo")
    pbt = train(config)
    sweep = train(dataclasses.replace(config, pbt=None, name="sweep"), population=pbt_population(algorithm, config))
    lineage = [pbt["pbt"]["lineage"][run["run"]] for run in pbt["runs"]]
    never = [m for m, events in enumerate(lineage) if len(events) == 1]
    copied = [m for m, events in enumerate(lineage) if len(events) > 1]
    assert never and copied  # 3 ready points, one copy each
    params = [jax_leaves(saved_arrays(Path(run["run_dir"]))["agent"]["params"]) for run in (pbt, sweep)]
    for a, b in zip(*params, strict=True):
        np.testing.assert_array_equal(a[never], b[never])
        assert not np.array_equal(a[copied], b[copied])
    # the starting points are the sweep's; the summary holds each member's values at the end
    for member, events in enumerate(lineage):
        assert events[0]["hyper"] == {k: v for k, v in sweep["runs"][member]["hyper"].items() if k in RANGES}
        assert pbt["runs"][member]["hyper"]["lr"] == events[-1]["hyper"]["lr"]
    # TensorBoard has each member's values over time, and `jaxrl compare` reads the run beside the sweep
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    child = copied[0]
    events = EventAccumulator(str(Path(pbt["run_dir"]) / pbt["runs"][child]["run"]), {SCALARS: 0}).Reload()
    logged = {event.step: event.value for event in events.Scalars("hparams/lr")}
    for event in lineage[child]:  # the value each chunk trained with: from the event's step on
        after = min(step for step in logged if step > event["step"])
        assert logged[after] == pytest.approx(event["hyper"]["lr"], rel=1e-6)
    compare.main([pbt["run_dir"], sweep["run_dir"]], str(tmp_path / "comparison"))


@pytest.mark.slow
def test_a_resumed_pbt_run_continues_its_lineage_bit_identically(tmp_path):
    values = {"lr": "1e-4:1e-2:log"}
    whole = jaxrl.pbt(
        "ppo", lr=(1e-4, 1e-2, "log"), population=4, ready_every=512, total_steps=2048, logdir=str(tmp_path),
        name="whole", target_return=1e9, **GYMNAX_PPO,
    ).summary  # fmt: skip
    config = planned(tmp_path, "ppo", "stopped", values, ready_every=512, total_steps=2048, **GYMNAX_PPO)
    stopped = train(config, should_stop=lambda env_steps: env_steps >= 768)  # past the first ready point
    assert stopped["interrupted_by"] == "request" and len(stopped["pbt"]["lineage"]) == 4
    resumed = jaxrl.resume(stopped["run_dir"]).summary
    assert resumed["pbt"]["lineage"] == whole["pbt"]["lineage"]
    assert [run["hyper"] for run in resumed["runs"]] == [run["hyper"] for run in whole["runs"]]
    final = [jax_leaves(saved_arrays(Path(run["run_dir"]))) for run in (whole, resumed)]
    for x, y in zip(*final, strict=True):
        np.testing.assert_array_equal(x, y)
    run_dir = Path(whole["run_dir"])
    assert (run_dir / "pbt.png").stat().st_size > 0 and "best member's final values" in (run_dir / "pbt.md").read_text()
    assert whole["pbt"]["best"] in {run["run"] for run in whole["runs"]} and whole["pbt"]["ancestry"][0]["step"] == 0
