"""PPO learns MinAtar with its preset (rejax's tuned Breakout-MinAtar settings, Breakout-MinAtar's
at 2 epochs and lr 4e-3 annealed; the MinAtar CNN) on the gymnax backend, fixed seed. Thresholds from the peer: rejax 0.1.3's PPO reaches a greedy
return of 5.5-6.5 on Breakout-MinAtar after 1M steps (5 seeds, BENCHMARKS.md); jaxrl must reach 5
(the mean of its last 20 training episodes, sampled actions) in a fifth of that budget. On
SpaceInvaders-MinAtar, a return of 20 within 262k steps (random play scores about 3)."""

import pytest

from jaxrl.algos import get_algorithm
from jaxrl.config import resolve
from tests.conftest import train


@pytest.mark.slow
@pytest.mark.parametrize(
    "env, target, budget", [("Breakout-MinAtar", 5.0, 196_608), ("SpaceInvaders-MinAtar", 20.0, 262_144)]
)
def test_ppo_reaches_the_threshold_on_minatar_within_the_budget(tmp_path, env, target, budget):
    options = dict(env=env, seed=0, total_steps=budget, target_return=target, log_every=16_384, logdir=str(tmp_path))
    config = resolve(get_algorithm("ppo"), options)
    assert config.backend == "gymnax" and config.static.num_envs == 32  # the minatar preset
    run = train(config)["runs"][0]
    assert run["steps_to_target"] is not None, run
