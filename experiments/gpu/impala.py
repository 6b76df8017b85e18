"""IMPALA on Breakout-v5 for a fixed wall-clock window (issue 27's GPU goal): env steps/s and
frames/s (x4: EnvPool's frameskip) over the window, and the mean return of the last 20 games at
its end, to set beside Cleanba's 1-GPU figure (24,632 frames/s; goal >= 37,000) and its curve.

Machado et al.'s protocol as Cleanba runs it: sticky actions (repeat_action_probability 0.25),
no episodic life, no no-op starts beyond one; Cleanba also uses the full 18-action set and a
27,000-step episode cap, which jaxrl's EnvPool options do not set (Breakout's 4 actions, EnvPool's
default cap). The [atari] preset otherwise: 64 envs in 2 actor threads, unrolls of 20.

    python experiments/gpu/impala.py --minutes 5 --out runs/impala.json
    python experiments/gpu/impala.py --minutes 0.5 --num-envs 8 --actor-threads 2   # CPU try-out
"""

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from jaxrl.algos import get_algorithm
from jaxrl.config import resolve
from jaxrl.training import session

MACHADO = {"episodic_life": False, "repeat_action_probability": 0.25, "noop_max": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="the training window, compilation included")
    parser.add_argument("--env", default="Breakout-v5")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--num-envs", type=int, help="default: the [atari] preset's 64")
    parser.add_argument("--actor-threads", type=int, help="default: the preset's 2")
    parser.add_argument("--learner-devices", type=int, nargs="*", help="local device indices (default: the first)")
    parser.add_argument("--actor-devices", type=int, nargs="*", help="local device indices (default: the first)")
    parser.add_argument("--out", type=Path, help="also write the result here as JSON")
    args = parser.parse_args()
    flags = {
        "num_envs": args.num_envs,
        "actor_threads": args.actor_threads,
        "learner_devices": tuple(args.learner_devices or ()),
        "actor_devices": tuple(args.actor_devices or ()),
    }
    logdir = tempfile.mkdtemp(prefix="impala-gpu-")
    options = {"env": args.env, "seeds": args.seeds, "logdir": logdir, "total_steps": 10**9}
    config = resolve(get_algorithm("impala"), {**options, **{k: v for k, v in flags.items() if v is not None}})
    # a chunk of 20 updates: the window is checked after each
    chunk = 20 * config.static.num_envs * config.static.rollout_steps
    config = dataclasses.replace(config, env_options={**config.env_options, **MACHADO}, log_every=chunk)
    start = time.perf_counter()
    deadline = start + 60 * args.minutes
    summary = session.train(config, should_stop=lambda _: time.perf_counter() > deadline)
    wall = time.perf_counter() - start
    steps = summary["runs"][0]["env_steps"] * args.seeds
    result = {
        "env": args.env,
        "machado": MACHADO,
        "seeds": args.seeds,
        "static": config.static,
        "wall_s": round(wall, 1),
        "env_steps": steps,
        "env_steps_per_s": round(steps / wall),
        "frames_per_s": round(4 * steps / wall),
        "final_return": [run["final_return"] for run in summary["runs"]],
        "compile_s": summary["compile_s"],
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
