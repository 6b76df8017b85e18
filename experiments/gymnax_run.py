"""jaxrl's side of the gymnax benchmarks, as one process: train PPO (its preset) for every seed in
one program at a fixed budget, then play each member's final greedy policy.

    python experiments/gymnax_run.py ENV SEEDS TOTAL_STEPS LOGDIR [EPISODES] [FLAGS_JSON]
    -> one JSON line {"train_s": ..., "returns": [greedy mean return per seed]}
"""

import json
import sys
import time

import jaxrl
from jaxrl.logs.tensorboard import TensorBoard


def main() -> None:
    env, seeds, total_steps, logdir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    episodes = int(sys.argv[5]) if len(sys.argv) > 5 else 16
    flags = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}  # e.g. {"cnn": false}: rejax's network
    start = time.perf_counter()
    # a target no member reaches: the whole budget is trained, as the peer trains it
    result = jaxrl.train(
        "ppo", env=env, backend="gymnax", seeds=seeds, total_steps=total_steps, target_return=1e9, logdir=logdir,
        loggers=[TensorBoard()], **flags,
    )  # fmt: skip
    train_s = time.perf_counter() - start
    scores = jaxrl.evaluate(result.run_dir, episodes=episodes)
    returns = [sum(member["returns"]) / episodes for member in scores["members"].values()]
    print(json.dumps({"train_s": round(train_s, 2), "returns": returns}))


if __name__ == "__main__":
    main()
