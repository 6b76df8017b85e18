"""--eval-every: greedy whole games on envs of their own at each crossing of a multiple of the
interval and at the end of the budget, logged as eval/return to TensorBoard and kept in summary.json (and the checkpoint
record, so a resumed run's summary holds its evaluations from before the stop)."""

import json
from pathlib import Path

import pytest

from jaxrl.algos import get_algorithm
from jaxrl.cli import main
from jaxrl.config import resolve
from jaxrl.logs.tensorboard import EVENT_FILES, event_records
from tests.conftest import train


def test_eval_every_logs_eval_return_to_tensorboard_and_summary(tmp_path):
    from tensorboardX.proto.event_pb2 import Event

    options = {"logdir": str(tmp_path), "seeds": 2, "total_steps": 5120, "log_every": 1280, "target_return": None}
    config = resolve(get_algorithm("ppo"), {**options, "eval_every": 2560, "eval_episodes": 3})
    summary = train(config)
    run_dir = Path(summary["run_dir"])
    for run in summary["runs"]:
        assert [step for step, _ in run["eval_returns"]] == [2560, 5120]
        assert run["eval_return"] == run["eval_returns"][-1][1] >= 8  # CartPole: a game lasts 8 steps at least
        logged = []
        for path in (run_dir / run["run"]).glob(EVENT_FILES):
            for raw in event_records(path):
                event = Event.FromString(raw)
                logged += [(event.step, v.simple_value) for v in event.summary.value if v.tag == "eval/return"]
        assert [step for step, _ in logged] == [step for step, _ in run["eval_returns"]]
        assert [value for _, value in logged] == pytest.approx([value for _, value in run["eval_returns"]])
    assert json.loads((run_dir / "summary.json").read_text())["runs"] == summary["runs"]


def test_a_budget_that_ends_between_multiples_is_evaluated_at_its_end(tmp_path):
    options = {"logdir": str(tmp_path), "total_steps": 5120, "log_every": 1280, "target_return": None}
    summary = train(resolve(get_algorithm("ppo"), {**options, "eval_every": 3000, "eval_episodes": 2}))
    assert [step for step, _ in summary["runs"][0]["eval_returns"]] == [3840, 5120]


def test_without_eval_every_nothing_is_evaluated(tmp_path):
    config = resolve(get_algorithm("ppo"), {"logdir": str(tmp_path), "total_steps": 2560, "target_return": None})
    assert "eval_return" not in train(config)["runs"][0]


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_bad_eval_every_is_one_line_before_anything_runs(value, capsys, tmp_path):
    assert main(["train", "ppo", "--eval-every", value, "--logdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"jaxrl: error: invalid --eval-every {value}: must be an integer >= 1" and not list(
        tmp_path.iterdir()
    )


def test_jaxrl_eval_of_a_recurrent_run_plays_the_games_of_its_last_evaluation(tmp_path):
    """The carry is threaded alike in training's evaluation and in `jaxrl eval` of the final
    checkpoint: the same greedy games, the same returns, member by member."""
    options = {"logdir": str(tmp_path), "seeds": 2, "seed": 0, "total_steps": 2560, "target_return": None}
    recurrent = {"env": "CartPole", "backend": "gymnax", "recurrent": "gru", "recurrent_size": 16}
    config = resolve(get_algorithm("ppo"), {**options, **recurrent, "eval_every": 2560, "eval_episodes": 3})
    summary = train(config)
    run_dir = Path(summary["run_dir"])
    assert main(["eval", str(run_dir), "--episodes", "3", "--seed", "0"]) == 0
    members = json.loads((run_dir / "eval.json").read_text())["members"]
    for run in summary["runs"]:
        assert sum(members[run["run"]]["returns"]) / 3 == pytest.approx(run["eval_return"], rel=1e-6)
