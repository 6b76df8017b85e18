"""What a frame of a multi-agent video costs (issue 29): jaxrl's NumPy drawing of a pool's first
game (`jaxrl.envs.jaxmarl.draw_game`) against JaxMARL's own matplotlib renderer of the same SMAX
state (its `init_render`, which its SMAXVisualizer calls for each of a step's world frames), timed
alternately in one process, medians over the repeats; written as experiments/results/<id>.json.

  python experiments/marl_frames.py --id marl-frames-issue-29 --repeats 10
"""

import argparse
import datetime
import time

import jax
import numpy as np

from experiments.benchmarks_md import RESULTS, dumps, machine


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--id", required=True)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxrl.envs import jaxmarl

    pools = {env_id: jaxmarl.make(env_id, [0, 1, 2]) for env_id in ("MPE_simple_spread_v3", "SMAX-3m")}
    handles = {env_id: pool.reset()[0] for env_id, pool in pools.items()}
    smax = jaxmarl.named("SMAX-3m")._env  # the SMAX under its heuristic enemy, which draws itself
    game = jax.tree.map(lambda x: x[0], handles["SMAX-3m"].state.state)
    noop = {agent: 0 for agent in smax.agents}
    _, axis = plt.subplots(1, 1, figsize=(6, 5))  # its SMAXVisualizer's figure
    timed = {"jaxrl MPE": [], "jaxrl SMAX": [], "JaxMARL SMAX (one world frame)": []}
    for repeat in range(args.repeats + 1):  # the first of each warms up, and is dropped
        times = [
            seconds(lambda: pools["MPE_simple_spread_v3"].draw(handles["MPE_simple_spread_v3"])),
            seconds(lambda: pools["SMAX-3m"].draw(handles["SMAX-3m"])),
            seconds(lambda: smax.init_render(axis, (None, game, noop), 0, 0)),
        ]
        for name, value in zip(timed, times, strict=True):
            timed[name] += [value] if repeat else []
    medians = {name: float(np.median(values)) for name, values in timed.items()}
    per_step = {**medians, "JaxMARL SMAX (one world frame)": medians["JaxMARL SMAX (one world frame)"] * 8}
    rows = [[name, f"{1000 * medians[name]:.2f}", f"{1000 * per_step[name]:.2f}"] for name in timed]
    result = {
        "id": args.id,
        "title": "A frame of a multi-agent video: jaxrl's drawing against JaxMARL's renderer (issue 29)",
        "section": None,
        "command": f"python experiments/marl_frames.py --id {args.id} --repeats {args.repeats}",
        "date": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}",
        "machine": machine(),
        "transcribed": None,
        "tables": [{"columns": ["drawing", "median ms a call", "ms an env step"], "rows": rows}],
        "figures": {name: {"median_s": value, "runs_s": timed[name]} for name, value in medians.items()},
        "goals": [],
        "notes": "SMAX ticks 8 world frames an env step; JaxMARL's visualiser draws each of them, "
        "jaxrl draws one frame a step (the state after it).",
    }
    (RESULTS / f"{args.id}.json").write_text(dumps(result) + "\n")
    print(dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
