"""bench.py's sections of issue 28 (memory), in their own module:

- `recurrent-cost`: one PPO member's iteration (collect + update) with a GRU or an LSTM core
  beside the feed-forward network at the same sizes (envs, steps, minibatches, epochs, preset),
  on gymnax's CartPole-v1 and Breakout-MinAtar, interleaved in one process, medians; then the
  same per member with 8 seeds in one program.
- `memory-tasks`: envs that need memory (jaxrl.envs.memory), feed-forward vs GRU vs LSTM PPO,
  16 seeds in one program each, one whole `jaxrl train` process per row at a small fixed
  budget with a target: seeds that reach it, env steps to it (median and slowest seed), the mean
  return at the end, the process's wall-clock.
"""

import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

KINDS = ("none", "gru", "lstm")
COST_ENVS = {"CartPole-v1": {"env": "CartPole", "backend": "gymnax"}, "Breakout-MinAtar": {"env": "Breakout-MinAtar"}}
NARROW = 16  # recurrent-cost: a CartPole GRU row this wide beside the default 128 units
GOAL = 1.5  # issue 28: a recurrent PPO member costs <= 1.5x a feed-forward one at the same sizes

# (row label, --env, flags beyond the env's preset, target): budgets that fit a shared 2-core CPU.
TASKS = {
    "memory-chain": ("MemoryChain-bsuite (memory 5)", "MemoryChain-bsuite", [], 0.9),
    "cartpole-positions": (
        "CartPole-v1, positions only",
        "jaxrl.envs.memory:cartpole_positions",
        ["--total-steps", "102400", "--num-envs", "8", "--rollout-steps", "32", "--num-minibatches", "1"],
        195.0,
    ),
    "breakout-no-trail": (
        "Breakout-MinAtar without its trail",
        "jaxrl.envs.memory:breakout_without_trail",
        ["--total-steps", "131072"],
        5.0,
    ),
}


def network_flops(env_options: dict, sizes: dict) -> float:
    """XLA's count of the floating-point operations of PPO's network on one observation (a
    sequence of one step for a recurrent core): the arithmetic each sample costs, forward."""
    import jax
    import jax.numpy as jnp

    from jaxrl.algos import get_algorithm
    from jaxrl.algos.ppo import policy
    from jaxrl.config import resolve
    from jaxrl.core.recurrent import initial_carry
    from jaxrl.training.assembly import assemble

    config = resolve(get_algorithm("ppo"), {**env_options, **sizes})
    parts = assemble(config, [0])
    network, _ = policy(parts.static, parts.env.spec)
    parts.env.close()
    obs = jnp.zeros((1, 1, *parts.env.spec.obs_shape))
    if parts.static.recurrent == "none":
        inputs: tuple = (obs[0],)
    else:
        carry = initial_carry(1, parts.static.recurrent_size, parts.static.recurrent)
        inputs = (carry, obs, jnp.zeros((1, 1), bool))
    params = network.init(jax.random.PRNGKey(0), *inputs)
    cost = jax.jit(lambda params: network.apply(params, *inputs)).lower(params).compile().cost_analysis()
    return (cost[0] if isinstance(cost, list) else cost)["flops"]


def recurrent_cost(repeats: int, programs_of: Callable, iterations: Callable, members: int = 8) -> dict:
    """`programs_of(algo, seeds, **options)`: bench.py's `pong_programs` (any env through options);
    `iterations(setups, repeats)`: its `pong_iterations` (interleaved medians of collect and update).
    One member, the goal's figure (and on CartPole a NARROW-unit GRU: as many dependent steps,
    less arithmetic in each), then `members` seeds in one program (vmapped, as the project trains
    them): the cost per member there, where the scan's dependent steps are shared."""
    lines = [
        "| PPO, preset sizes | members | core | collect ms / member | update ms / member "
        "| iteration ms / member | x feed-forward | network FLOPs / sample | x feed-forward |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ratios, flop_ratios = {}, {}
    for seeds in (1, members):
        for label, options in COST_ENVS.items():
            cores = {kind: {"recurrent": kind} for kind in KINDS}
            if seeds == 1 and label == "CartPole-v1":  # the same steps with less arithmetic in each
                cores[f"gru, {NARROW} units"] = {"recurrent": "gru", "recurrent_size": NARROW}
            setups = {}
            for core, sizes in cores.items():
                programs, state, handle, hyper, env, _ = programs_of(
                    "ppo", seeds, total_steps=10_240_000, **sizes, **options
                )
                setups[core] = (programs, state, handle, hyper, env)
            times = iterations(setups, repeats)
            for *_, env in setups.values():
                env.close()
            base = times["none"]["collect_s"] + times["none"]["update_s"]
            flops = {core: network_flops(options, sizes) for core, sizes in cores.items()}
            for core, row in times.items():
                total = row["collect_s"] + row["update_s"]
                ratios[f"{label} {seeds} {core}"] = total / base
                flop_ratios[f"{label} {core}"] = flops[core] / flops["none"]
                lines.append(
                    f"| {label} | {seeds} | {core} | {1000 * row['collect_s'] / seeds:,.1f} "
                    f"| {1000 * row['update_s'] / seeds:,.1f} | {1000 * total / seeds:,.1f} | {total / base:.2f}x "
                    f"| {flops[core]:,.0f} | {flops[core] / flops['none']:.2f}x |"
                )
    worst = max(ratios[f"{label} 1 {kind}"] for label in COST_ENVS for kind in KINDS[1:])
    goal = {"goal": f"a recurrent PPO member <= {GOAL}x a feed-forward one", "value": worst, "holds": worst <= GOAL}
    return {
        "text": "\n".join(lines),
        "figures": {"repeats": repeats, "ratio": ratios, "flops_ratio": flop_ratios},
        "goals": [goal],
    }


def trained(env: str, kind: str, flags: list[str], target: float, logdir: str) -> dict:
    """One whole `jaxrl train ppo` process of 16 seeds: its figures from summary.json."""
    name = f"{kind}-{env.replace(':', '-')}"
    argv = [sys.executable, "-m", "jaxrl.cli", "train", "ppo", "--env", env, "--recurrent", kind, "--seeds", "16"]
    argv += [*flags, "--target-return", f"{target:g}", "--logdir", logdir, "--name", name]
    subprocess.run(argv, check=True, capture_output=True)
    summary = json.loads(next(Path(logdir).glob(f"*/ppo/{name}/summary.json")).read_text())
    runs = summary["runs"]
    steps = sorted(run["steps_to_target"] for run in runs if run["steps_to_target"] is not None)
    return {
        "solved": len(steps),
        "steps_median": statistics.median(steps) if steps else None,
        "steps_slowest": steps[-1] if len(steps) == len(runs) else None,
        "final_return": statistics.mean(run["final_return"] for run in runs),
        "env_steps": runs[0]["env_steps"],
        "wall_s": summary["wall_s"],
        "compile_s": summary["compile_s"]["total"],
    }


def memory_tasks(tasks: list[str]) -> dict:
    lines = [
        "| PPO, 16 seeds in one program | core | target | solved | steps to it, median | slowest seed "
        "| mean return at the end | env steps | wall s (compile s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    figures = {}
    with tempfile.TemporaryDirectory() as logdir:
        for task in tasks:
            label, env, flags, target = TASKS[task]
            for kind in KINDS:
                row = figures[f"{task} {kind}"] = trained(env, kind, flags, target, logdir)
                print(task, kind, row, flush=True)
                median = "-" if row["steps_median"] is None else f"{row['steps_median']:,.0f}"
                slowest = "-" if row["steps_slowest"] is None else f"{row['steps_slowest']:,}"
                lines.append(
                    f"| {label} | {kind} | {target:g} | {row['solved']}/16 | {median} | {slowest} "
                    f"| {row['final_return']:.2f} | {row['env_steps']:,} | {row['wall_s']:.0f} ({row['compile_s']:.0f}) |"
                )
    return {"text": "\n".join(lines), "figures": figures}
