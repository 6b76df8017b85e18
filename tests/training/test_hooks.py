"""The loop over hooks, driven with a fake fleet: chunks end at ready points and at the end,
a stop skips the hooks after the agreement (videos, checkpoints) but the final checkpoint is
written, PBT exploits at ready points only, checkpoints are written when due and at the end,
and the plan is computed without a run dir."""

import numpy as np
import pytest

from jaxrl.algos import get_algorithm
from jaxrl.config import resolve
from jaxrl.search import Range, pbt_plan
from jaxrl.training.distributed import Peers
from jaxrl.training.hooks import video
from jaxrl.training.hooks.agreement import StopAgreement
from jaxrl.training.hooks.base import Hook, Loop, run_loop
from jaxrl.training.hooks.checkpointing import Checkpoints
from jaxrl.training.hooks.logs import Logging
from jaxrl.training.hooks.pbt import Exploit
from jaxrl.training.hooks.scoring import Scoring
from jaxrl.training.plan import RunPlan, make_plan
from jaxrl.training.scoreboard import Record, Scoreboard
from tests.training.test_pbt import tuner as make_tuner

MEMBERS = 8
STEPS = 10  # env steps per iteration


def plan(iterations=10, chunk=3, ready_every=None) -> RunPlan:
    algorithm = get_algorithm("ppo")  # (no replay: nothing for the fake fleet to hand over)
    population = type("P", (), {"seeds": list(range(MEMBERS)), "names": [f"s{m}" for m in range(MEMBERS)]})()
    mine = slice(0, MEMBERS)
    return RunPlan(algorithm, None, population, mine, population, STEPS, iterations, chunk, ready_every, None)


def fake_chunk(returns=None):
    """A fleet's train_chunk: env steps counted from the calls, returns fixed per member."""
    done = [0]

    def train_chunk(iterations):
        steps = (done[0] + np.arange(1, iterations + 1)) * STEPS
        done[0] += iterations
        recent = np.tile(np.arange(MEMBERS, dtype=float) if returns is None else returns, (iterations, 1))
        return {
            "env_steps": np.repeat(steps[:, None], MEMBERS, 1),
            "recent_return": recent,
            "diverged_at": np.full((iterations, MEMBERS), -1),
        }

    return train_chunk


def scoreboard(target=None) -> Scoreboard:
    unset = (None,) * MEMBERS
    record = Record(steps_to_target=unset, seconds_to_target=unset, final_return=unset)
    return Scoreboard(record, slice(0, MEMBERS), np.full(MEMBERS, -1), target)


class Recorder(Hook):
    def __init__(self):
        self.chunks, self.ended = [], False

    def after_chunk(self, loop, chunk):
        self.chunks.append((chunk.iterations, loop.env_steps))

    def at_end(self, loop):
        self.ended = True


class Stop:
    signal = None


class Saver:
    def __init__(self, due_at=()):
        self.due_at, self.saved, self.closed = set(due_at), [], False

    def due(self, env_steps):
        return env_steps in self.due_at

    def save(self, env_steps, state, host, replay):
        assert not self.closed
        self.saved.append((env_steps, host["iterations"], host["final_return"]))

    def close(self):
        self.closed = True


class FakeFleet:
    def __init__(self):
        self.exploits, self.hyper = [], []

    def exploit(self, children, parents, copy_replay):
        self.exploits.append((sorted(children.tolist()), copy_replay))

    def set_hyper(self, values):
        self.hyper.append(values)

    def saved(self):
        return {}

    def replays(self):
        return []


class Log:
    def flush(self):
        pass


def test_chunks_end_at_ready_points_and_at_the_end_and_every_hook_hears_each():
    recorder = Recorder()
    loop = Loop(plan(iterations=10, chunk=3, ready_every=4), 0, 0, 0.0)
    run_loop(loop, fake_chunk(), [recorder])
    assert [n for n, _ in recorder.chunks] == [3, 1, 3, 1, 2]  # 3, ready at 4, 3, ready at 8, end
    assert recorder.chunks[-1][1] == 100 and loop.done == 10 and recorder.ended and loop.trained


def test_a_stop_skips_the_later_hooks_of_its_chunk_and_the_final_checkpoint_is_written():
    saver, scores, recorder = Saver(due_at={30}), scoreboard(), Recorder()
    asked = StopAgreement(Peers(), Stop(), lambda steps: steps >= 60, scores, saver)
    checkpoints = Checkpoints(config(), FakeFleet(), saver, Log(), Peers(), scores, 0, None)
    loop = Loop(plan(iterations=10, chunk=3), 0, 0, 0.0)
    run_loop(loop, fake_chunk(), [Scoring(scores), asked, recorder, checkpoints])
    assert loop.interrupted_by == "request" and loop.done == 6
    assert [steps for _, steps in recorder.chunks] == [30]  # not told of the chunk the stop came after
    assert [(steps, iterations) for steps, iterations, _ in saver.saved] == [(30, 3), (60, 6)]
    assert saver.saved[-1][2] == tuple(float(m) for m in range(MEMBERS))
    assert saver.closed  # after the final checkpoint


def test_a_stop_asked_as_the_last_chunk_ends_changes_nothing():
    saver, scores = Saver(), scoreboard()
    loop = Loop(plan(iterations=6, chunk=3), 0, 0, 0.0)
    run_loop(loop, fake_chunk(), [Scoring(scores), StopAgreement(Peers(), Stop(), lambda s: s >= 60, scores, saver)])
    assert loop.interrupted_by is None and loop.done == 6


def test_every_member_at_the_target_ends_the_loop():
    scores = scoreboard(target=0.0)
    loop = Loop(plan(iterations=10, chunk=3), 0, 0, 0.0)
    run_loop(loop, fake_chunk(), [Scoring(scores), StopAgreement(Peers(), Stop(), None, scores, Saver())])
    assert loop.finished and loop.done == 3 and loop.interrupted_by is None


def test_pbt_exploits_at_ready_points_only_and_logs_the_values_trained_with():
    fleet, scores, tuner = FakeFleet(), scoreboard(), make_tuner()
    logged = []

    class Metrics(Hook):
        def after_chunk(self, loop, chunk):
            logged.append(chunk.metrics["hparams/lr"].shape)

    loop = Loop(plan(iterations=10, chunk=3, ready_every=4), 0, 0, 0.0)
    run_loop(loop, fake_chunk(), [Scoring(scores), Exploit(tuner, fleet, scores, True), Metrics()])
    assert [children for children, _ in fleet.exploits] == [[0, 1], [0, 1]]  # ready at 4 and 8, not at the end
    assert len(fleet.hyper) == 2 and logged == [(3, 8), (1, 8), (3, 8), (1, 8), (2, 8)]


def config(**options):
    return resolve(get_algorithm("ppo"), {"env": "CartPole-v1", "total_steps": 10_000, **options})


def test_the_plan_needs_no_run_dir_and_splits_members_over_processes():
    class Second(Peers):
        index, count = 1, 2

    made = make_plan(config(seeds=4, log_every=2048), peers=Second())
    assert made.population.seeds == [2, 3] and made.mine == slice(2, 4)
    assert made.total_steps == made.num_iterations * made.steps_per_iteration <= 10_000
    assert made.chunk == max(1, 2048 // made.steps_per_iteration) and made.need.total_bytes > 0


def test_a_pbt_plan_ends_chunks_at_ready_points():
    algorithm = get_algorithm("ppo")
    made = make_plan(
        pbt_plan(
            algorithm, {"env": "CartPole-v1", "total_steps": 20_000, "population": 4}, {"lr": Range(1e-4, 1e-3, True)}
        )
    )
    assert made.ready_every and made.chunk <= made.ready_every
    assert made.next_chunk(made.ready_every - 1) == 1 and made.ready_point(made.ready_every)
    assert not made.ready_point(made.num_iterations)


class Sink:
    def __init__(self):
        self.chunks, self.hparams, self.videos = [], [], []

    def log_chunk(self, metrics, elapsed_s):
        self.chunks.append(sorted(metrics))

    def log_hparams(self, member_hparams, final_returns, step):
        self.hparams.append(step)

    def log_video(self, member, frames, fps, step):
        self.videos.append(step)


class Compiles:
    def __init__(self):
        self.pending = {"update": 1.5}

    def take(self):
        taken, self.pending = self.pending, {}
        return taken


@pytest.mark.parametrize("stop_at", [None, 40])
def test_logging_reports_compile_seconds_once_and_hparams_only_when_the_run_completes(stop_at):
    sink, scores = Sink(), scoreboard()
    logging = Logging(sink, Compiles(), [{}] * MEMBERS, scores)
    stop = StopAgreement(Peers(), Stop(), None if stop_at is None else lambda s: s >= stop_at, scores, Saver())
    run_loop(Loop(plan(iterations=6, chunk=2), 0, 0, 0.0), fake_chunk(), [Scoring(scores), logging, stop])
    assert "time/compile/update" in sink.chunks[0] and all("time/compile/update" not in c for c in sink.chunks[1:])
    assert sink.hparams == ([] if stop_at else [60])


def test_a_video_is_recorded_each_time_the_env_steps_cross_a_multiple(monkeypatch, tmp_path):
    monkeypatch.setattr(video, "record", lambda *args: (np.zeros((2, 4, 4, 3), np.uint8), 30, 1.0))
    monkeypatch.setattr(video, "write_video", lambda frames, fps, path: path)
    fleet = type("F", (), {"agent": None, "first_member_agent": lambda self: None})()
    sink = Sink()
    hook = video.Video(config(capture_video=25), fleet, sink, tmp_path, "s0")
    run_loop(Loop(plan(iterations=10, chunk=2), 0, 0, 0.0), fake_chunk(), [hook])
    assert sink.videos == [40, 60, 80, 100]  # chunks end at 20, 40, ...: 25, 50, 75 and 100 are crossed there
