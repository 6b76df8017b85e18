"""`jaxrl eval` reproduces a trained agent's return, deterministically; videos decode with the
game's frames; bad eval input is one line; training records videos."""

import json
from pathlib import Path

import numpy as np
import pytest

from jaxrl.algos import get_algorithm
from jaxrl.cli import main
from jaxrl.config import resolve
from jaxrl.logs.tensorboard import EVENT_FILES, event_records
from tests.conftest import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def solved_cartpole(tmp_path_factory) -> Path:
    """PPO's preset on CartPole, stopped once the last 20 training episodes average 475."""
    config = resolve(get_algorithm("ppo"), {"logdir": str(tmp_path_factory.mktemp("runs")), "name": "solved"})
    summary = train(config)
    assert summary["runs"][0]["steps_to_target"] is not None
    return Path(summary["run_dir"])


def evaluate(run_dir: Path, *args: str) -> dict:
    assert main(["eval", str(run_dir), *args]) == 0
    return json.loads((run_dir / "eval.json").read_text())


def test_eval_reproduces_the_trained_return_and_is_deterministic(solved_cartpole, capsys):
    first = evaluate(solved_cartpole, "--episodes", "5", "--seed", "0")
    second = evaluate(solved_cartpole, "--episodes", "5", "--seed", "0")
    assert first == second
    returns = first["members"]["s0"]["returns"]
    assert len(returns) == 5 and np.mean(returns) >= 475
    assert first["members"]["s0"]["lengths"] == returns  # CartPole: a reward of 1 per step
    assert "s0: return " in capsys.readouterr().out
    stochastic = evaluate(solved_cartpole, "--episodes", "5", "--seed", "0", "--stochastic")
    assert stochastic["policy"] == "stochastic" and np.mean(stochastic["members"]["s0"]["returns"]) >= 400


def test_eval_video_decodes_with_one_frame_per_step_of_the_game(solved_cartpole):
    import imageio.v3 as iio

    result = evaluate(solved_cartpole, "--episodes", "1", "--video")
    video = result["videos"]["s0"]
    frames = iio.imread(video["path"])
    assert Path(video["path"]).suffix == ".mp4" and frames.dtype == np.uint8
    assert frames.shape == (int(video["return"]) + 1, 400, 600, 3)  # the reset frame, then one per step
    assert iio.immeta(video["path"])["fps"] == 50  # CartPole's own rate: real time
    assert frames.std() > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--run", "s9"], "--run s9: no such member"),
        (["--episodes", "0"], "invalid --episodes 0: must be an integer >= 1"),
    ],
)
def test_bad_eval_input_is_one_line_exit_2(solved_cartpole, args, message, capsys):
    assert main(["eval", str(solved_cartpole), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_eval_of_a_missing_run_dir_is_one_line_exit_2(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nope")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_capture_video_records_games_into_the_run_dir_and_tensorboard(tmp_path):
    from tensorboardX.proto.event_pb2 import Event

    config = resolve(
        get_algorithm("ppo"),
        {"logdir": str(tmp_path), "total_steps": 5120, "log_every": 1280, "capture_video": 2560, "target_return": None},
    )
    run_dir = Path(train(config)["run_dir"])
    assert sorted(path.name for path in (run_dir / "videos").iterdir()) == ["s0-step2560.mp4", "s0-step5120.mp4"]
    images = []
    for path in (run_dir / "s0").glob(EVENT_FILES):
        for raw in event_records(path):
            event = Event.FromString(raw)
            images += [(event.step, v.image) for v in event.summary.value if v.tag == "eval/video"]
    assert [step for step, _ in images] == [2560, 5120]
    assert all(image.encoded_image_string[:6] == b"GIF89a" and image.width == 600 for _, image in images)


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_box_policies_act_greedily_inside_the_bounds_and_eval_plays_them(algo, tmp_path):
    """A short run on InvertedPendulum (actions in [-3, 3]): eval plays it, `jaxrl.load` returns
    one action vector per observation, greedy and deterministic; PPO's through its running
    observation statistics, which the checkpoint holds. MuJoCo renders headless (EGL) for videos."""
    import imageio.v3 as iio

    import jaxrl

    options = dict(env="InvertedPendulum-v4", total_steps=2048, log_every=1024, logdir=str(tmp_path))
    if algo == "ppo":
        options.update(rollout_steps=512, num_minibatches=4, update_epochs=2)
    else:
        options.update(learning_starts=256, hidden=[32, 32], batch_size=64)
    run_dir = jaxrl.train(algo, **options).run_dir
    scores = jaxrl.evaluate(run_dir, episodes=3)
    assert len(scores["members"]["s0"]["returns"]) == 3 and min(scores["members"]["s0"]["lengths"]) >= 1
    policy = jaxrl.load(run_dir)
    observations = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    actions = policy(observations)
    assert actions.shape == (5, 1) and actions.dtype == np.float32 and (np.abs(actions) <= 3.0).all()
    np.testing.assert_array_equal(actions, policy(observations))  # greedy: the same each time
    assert policy(observations[0]).shape == (1,)
    if algo == "ppo":
        from jaxrl.training.checkpoints import checkpoint_dir, latest_step, orbax

        step = latest_step(run_dir)
        saved = orbax().PyTreeCheckpointer().restore((checkpoint_dir(run_dir) / str(step) / "state").resolve())
        assert float(np.asarray(saved["agent"]["obs_stats"]["count"])[0]) > 1000  # checkpointed per member
        video = jaxrl.evaluate(run_dir, episodes=1, video=True)["videos"]["s0"]
        frames = iio.imread(video["path"])
        assert frames.shape[1:] == (256, 256, 3) and frames.std() > 0


@pytest.mark.parametrize("stochastic", [False, True])
def test_a_jax_envs_games_give_the_same_scores_in_batches_of_steps_as_one_by_one(monkeypatch, stochastic):
    """Evaluation steps a JAX env many steps per call; the scores are those of stepping one at a
    time, and a game longer than MAX_STEPS (not a multiple of the batch) is cut there."""
    import jax

    from jaxrl.training import evaluation
    from jaxrl.training.assembly import assemble
    from jaxrl.training.population import seed_population

    config = resolve(get_algorithm("ppo"), {"env": "CartPole-v1", "backend": "gymnax", "seeds": 2})
    population = seed_population(get_algorithm("ppo"), config)

    def scores(steps_per_call: int, max_steps: int):
        monkeypatch.setattr(evaluation, "JAX_ENV_STEPS_PER_CALL", steps_per_call)
        monkeypatch.setattr(evaluation, "MAX_STEPS", max_steps)
        parts = assemble(config, [0, 0], envs_per_member=6, evaluation=True)
        keys = jax.random.split(jax.random.PRNGKey(3), 2)
        agent_state = jax.vmap(parts.agent.init)(keys, population.hyper)
        return evaluation.play(parts.agent, agent_state, parts.env, 2, 0, stochastic)

    one_by_one, batched = scores(1, 1000), scores(4, 1000)
    np.testing.assert_array_equal(batched.returns, one_by_one.returns)
    np.testing.assert_array_equal(batched.lengths, one_by_one.lengths)
    assert one_by_one.lengths.min() > 6  # so that MAX_STEPS = 6 below cuts every game
    cut = scores(4, 6)
    assert (cut.lengths == 6).all() and (cut.returns == 6).all()
