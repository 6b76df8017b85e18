"""Wall-clock to a score, for populations of 1 and N seeds in one program: the GPU benchmark of
issue 8 (Pong PPO to 20 and 18; Pong DQN to 18 where time allows).

    python experiments/gpu/time_to_score.py --algo ppo --env Pong --seeds 1 4 --targets 18 20
    python experiments/gpu/time_to_score.py --algo dqn --env Pong --seeds 1 --targets 18 --total-steps 10000000

Each population runs as `python -m jaxrl.cli train ...` (imports and compilation included) and
trains until every member's mean return over its last 20 episodes reaches the highest target, or
its budget ends: the steps, or --max-minutes of wall-clock (then it is stopped as by Ctrl-C). For
each member and target it reports the first time (from the command's start) and env step at
which that mean reached the target, read from the member's TensorBoard file, the final returns
and the population's training SPS. Prints a markdown table and writes it, with the GPU's name
and the raw numbers, to --out as JSON.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def device_name() -> str:
    import jax

    device = jax.devices()[0]
    return f"{device.platform}: {device.device_kind}"


def first_reach(member_dir: Path, target: float, start_wall: float) -> tuple[int, float] | None:
    """(env step, seconds since start) where charts/recent_return first reached `target`."""
    from tensorboardX.proto.event_pb2 import Event

    from jaxrl.logs.tensorboard import EVENT_FILES, event_records

    hits = []
    for path in member_dir.glob(EVENT_FILES):
        for raw in event_records(path):
            event = Event.FromString(raw)
            for value in event.summary.value:
                if value.tag == "charts/recent_return" and value.simple_value >= target:
                    hits.append((event.step, event.wall_time - start_wall))
    return min(hits) if hits else None


def run_population(args, seeds: int, logdir: str) -> dict:
    name = f"{args.algo}-{seeds}seeds"
    command = [
        sys.executable, "-m", "jaxrl.cli", "train", args.algo, "--env", args.env, "--seeds", str(seeds),
        "--target-return", str(max(args.targets)), "--logdir", logdir, "--name", name, *args.extra,
    ]  # fmt: skip
    if args.total_steps:
        command += ["--total-steps", str(args.total_steps)]
    start = time.time()
    with tempfile.TemporaryFile("w+") as stderr:
        child = subprocess.Popen(
            command, cwd=ROOT, env=dict(os.environ, CI="true"), stdout=subprocess.DEVNULL, stderr=stderr
        )
        try:
            child.wait(timeout=args.max_minutes * 60 if args.max_minutes else None)
        except subprocess.TimeoutExpired:  # Ctrl-C: jaxrl ends the chunk, checkpoints, writes summary.json, exits 130
            child.send_signal(signal.SIGINT)
            child.wait()
        wall = time.time() - start
        if child.returncode not in (0, 130):
            stderr.seek(0)
            raise SystemExit(f"{' '.join(command)} failed:\n{stderr.read()[-2000:]}")
    summary = json.loads(next(Path(logdir).glob(f"*/{args.algo}/{name}/summary.json")).read_text())
    run_dir = Path(summary["run_dir"])
    members = {
        run["run"]: {str(target): first_reach(run_dir / run["run"], target, start) for target in args.targets}
        for run in summary["runs"]
    }
    steps = summary["runs"][0]["env_steps"]
    return {"seeds": seeds, "wall_s": round(wall, 1), "stopped_at_max_minutes": child.returncode == 130,
            "env_steps_per_member": steps, "sps": round(steps * seeds / wall), "members": members,
            "final_returns": [run["final_return"] for run in summary["runs"]], "command": " ".join(command)}  # fmt: skip


def table(results: list[dict], targets: list[float]) -> str:
    header = "| seeds | " + " | ".join(f"time to {t:g} (s), max over seeds" for t in targets)
    lines = [header + " | final returns | steps per seed | SPS (all seeds) |", "|" + "---|" * (len(targets) + 4)]
    for result in results:
        cells = []
        for target in targets:
            reached = [member[str(target)] for member in result["members"].values()]
            cells.append("not reached" if None in reached else f"{max(seconds for _, seconds in reached):,.0f}")
        finals = ", ".join("-" if r is None else f"{r:.1f}" for r in result["final_returns"])
        cells += [finals, f"{result['env_steps_per_member']:,}", f"{result['sps']:,}"]
        lines.append(f"| {result['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("--env", default="Pong")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--targets", type=float, nargs="+", default=[18.0, 20.0])
    parser.add_argument("--total-steps", type=int, default=None, help="per member (default: the preset's)")
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="per population: then stop it (Ctrl-C) and report what it reached",
    )
    parser.add_argument("--out", default="time_to_score.json")
    parser.add_argument("extra", nargs="*", help="more jaxrl train flags, after --")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as logdir:
        results = [run_population(args, seeds, logdir) for seeds in args.seeds]
    text = table(results, args.targets)
    report = {"device": device_name(), "algo": args.algo, "env": args.env, "results": results, "table": text}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{args.algo} on {args.env}, {report['device']}\n\n{text}")


if __name__ == "__main__":
    main()
