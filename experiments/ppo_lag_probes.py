"""Where PPO --lag 1's seconds go on the actor-learner (Pong preset, 1 member; BENCHMARKS "PPO with
a lag on the actor-learner"):

  python experiments/ppo_lag_probes.py learn-cost [--repeats 4]   PPO's update and the decoupled
      one on the same rollout, interleaved (the correction's cost)
  python experiments/ppo_lag_probes.py unroll-alone               an actor's unroll with the learner
      publishing without learning
  python experiments/ppo_lag_probes.py update-parts [--updates 6] [--actor-device 1] [--env-threads N]
      each steady update split into the wait for unrolls, their placement, the update, publishing
      (`--actor-device 1` under XLA_FLAGS=--xla_force_host_platform_device_count=2)
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402


def learn_cost(repeats: int) -> None:
    built = {
        label: bench.pong_assembly("ppo", 1, total_steps=10**8, lag=lag)
        for label, lag in (("PPO", 0), ("decoupled", 1))
    }
    timers = {
        label: {part: fn for part, fn in bench.iteration_parts(*pieces).items() if part in ("collect", "learn")}
        for label, pieces in built.items()
    }
    for label, parts in bench.interleaved_parts(timers, repeats).items():
        learn = [round(1000 * s) for s in parts["learn"]]
        print(f"{label}: learn ms {learn}, median {statistics.median(learn)}")


def actor_learner(**options):
    from jaxrl.algos import get_algorithm
    from jaxrl.api import enable_compilation_cache
    from jaxrl.config import resolve
    from jaxrl.training.actor_learner import ActorLearner
    from jaxrl.training.population import seed_population

    enable_compilation_cache()
    algorithm = get_algorithm("ppo")
    config = resolve(algorithm, {"env": "Pong", "lag": 1, "total_steps": 10**8, **options})
    runner = ActorLearner(config, seed_population(algorithm, config), 0)
    runner.init()
    return runner


def publish(runner) -> None:
    from jaxrl.training.actor_learner import local_copy

    runner.update_index += 1
    runner.versions.publish(runner.update_index, local_copy(runner.state.agent), runner.static.lag)


def unroll_alone(unrolls: int = 8) -> None:
    runner = actor_learner()
    try:
        finished = []
        for _ in range(unrolls):
            finished.append(runner.next_unrolls()[0][0][0].finished)
            publish(runner)
    finally:
        runner.close()
    gaps = [round(1000 * (b - a)) for a, b in zip(finished, finished[1:], strict=False)][2:]
    print(f"unroll alone ms {gaps}, median {statistics.median(gaps)}")


def update_parts(updates: int, **options) -> None:
    import jax

    runner = actor_learner(**options)
    rows = []
    try:
        for _ in range(2 + updates):  # the first two compile and find unrolls collected ahead
            start = time.perf_counter()
            unrolls, _ = runner.next_unrolls()
            taken = time.perf_counter()
            traj, ended = jax.block_until_ready(runner.placed(unrolls))
            placed = time.perf_counter()
            runner.state, _ = jax.block_until_ready(runner.programs.update(runner.state, traj, ended, runner.hyper))
            learned = time.perf_counter()
            publish(runner)
            rows.append((taken - start, placed - taken, learned - placed, time.perf_counter() - learned))
    finally:
        runner.close()
    medians = [round(1000 * statistics.median(part)) for part in zip(*rows[2:], strict=True)]
    print(f"median ms: wait {medians[0]}, place {medians[1]}, update {medians[2]}, publish {medians[3]}, "
          f"total {sum(medians)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("probe", choices=("learn-cost", "unroll-alone", "update-parts"))
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--updates", type=int, default=6)
    parser.add_argument("--actor-device", type=int)
    parser.add_argument("--env-threads", type=int)
    args = parser.parse_args()
    if args.probe == "learn-cost":
        learn_cost(args.repeats)
    elif args.probe == "unroll-alone":
        unroll_alone()
    else:
        options = {} if args.actor_device is None else {"actor_devices": (args.actor_device,)}
        update_parts(args.updates, **options, **({} if args.env_threads is None else {"env_threads": args.env_threads}))


if __name__ == "__main__":
    main()
