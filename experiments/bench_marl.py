"""bench.py's `marl` section (issue 29), in its own module: IPPO on JaxMARL's MPE simple_spread,
jaxrl's `ippo` beside JaxMARL's own baseline (baselines/IPPO/ippo_ff_mpe.py, run unmodified but
for NUM_SEEDS and TOTAL_TIMESTEPS, in a subprocess), the same budget and seeds, one after the
other on the same machine.

Budgets: JaxMARL's TOTAL_TIMESTEPS counts games' steps, jaxrl's total_steps rows (games x 3
agents): the same number of updates (rollouts of 16 games x 128 steps) on both. Returns are per
agent (an agent's own rewards over a game, the mean over agents: JaxMARL's MPELogWrapper's
returned_episode_returns and jaxrl's charts/episodic_return); the team's is 3x.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ENV = "MPE_simple_spread_v3"
AGENTS = 3


class Curve:
    """A logger keeping the mean over members of each iteration's return and team return."""

    def __init__(self):
        self.returns, self.teams = [], []

    def open(self, run): ...
    def log_chunk(self, metrics, elapsed_s):
        ended = metrics["episodes_ended"].sum(axis=1)
        self.returns += list(metrics["episode_return_sum"].sum(axis=1) / np.maximum(ended, 1))
        self.teams += list(np.nanmean(metrics["team/return"], axis=1))

    def log_hparams(self, member_hparams, final_returns, step): ...
    def log_video(self, member, frames, fps, step): ...
    def note(self, text): ...
    def flush(self): ...
    def close(self): ...


def jaxrl_ippo(seeds: int, rows: int, logdir: str) -> dict:
    """One run of every seed as one program (its compile included), in this process."""
    import jaxrl

    curve = Curve()
    start = time.perf_counter()
    result = jaxrl.train("ippo", env=ENV, seeds=seeds, total_steps=rows, logdir=logdir, loggers=[curve])
    wall = time.perf_counter() - start
    tenth = max(len(curve.returns) // 10, 1)  # the first and last tenth of the iterations
    return {
        "wall_s": wall,
        "compile_s": result.summary["compile_s"]["total"],
        "start_return": float(np.mean(curve.returns[:tenth])),
        "end_return": float(np.mean(curve.returns[-tenth:])),
        "end_team_return": float(np.mean(curve.teams[-tenth:])),
    }


def jaxmarl_ippo(script: str, python_path: str, seeds: int, game_steps: int, workdir: str) -> float:
    """Wall seconds of JaxMARL's ippo_ff_mpe.py (its import, compile and training; wandb off)."""
    argv = [sys.executable, script, f"NUM_SEEDS={seeds}", f"TOTAL_TIMESTEPS={game_steps}"]
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": python_path, "WANDB_MODE": "disabled"}
    subprocess.run(argv, check=True, capture_output=True, env=env, cwd=workdir)
    return time.perf_counter() - start


def marl(seeds: int, repeats: int, script: str, python_path: str, updates: int = 160) -> dict:
    """`updates` rollouts of 16 games x 128 steps per seed, on both, interleaved repeat by repeat."""
    game_steps = updates * 16 * 128
    rows = game_steps * AGENTS
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as logdir:
        for _ in range(repeats):
            ours.append(jaxrl_ippo(seeds, rows, logdir))
            if script:  # (without --jaxmarl-script: jaxrl's row alone)
                theirs.append(jaxmarl_ippo(script, python_path, seeds, game_steps, logdir))
    wall = statistics.median(run["wall_s"] for run in ours)
    peer = statistics.median(theirs) if theirs else float("nan")
    per_million = 1e6 / (seeds * rows)  # seconds per million rows (agent steps) of all seeds
    last = ours[-1]
    lines = [
        f"| IPPO {ENV}, {seeds} seeds, {updates} updates | agent steps per seed | wall s, median "
        "| s per million agent steps | return per agent, first -> last tenth | vs JaxMARL |",
        "|---|---|---|---|---|---|",
        f"| jaxrl ippo | {rows:,} | {wall:.1f} | {wall * per_million:.2f} "
        f"| {last['start_return']:.1f} -> {last['end_return']:.1f} (team {last['end_team_return']:.1f}) "
        f"| {wall / peer:.2f}x |",
        f"| JaxMARL ippo_ff_mpe.py | {rows:,} | {peer:.1f} | {peer * per_million:.2f} | (its plot only) | 1.00x |",
    ]
    text = (
        "\n".join(lines) + f"\n\n{repeats} repeats, whole runs including compilation; machine shared with other work."
    )
    figures = {"seeds": seeds, "updates": updates, "rows": rows, "jaxrl": ours, "jaxmarl_wall_s": theirs}
    return {"text": text, "figures": figures, "goals": []}
