"""bench.py's Craftax sections (issue 28), in their own module.

`craftax`: Craftax-Classic-Symbolic env steps/s with a fresh world generated for every env on
every step (kept only where an episode ended: the backend before optimistic resets) against
optimistic resets (N // 16 worlds per step for the pool), random actions and feed-forward PPO,
interleaved in one process.
`craftax-run`: the figures of a long `jaxrl train` run on Craftax (`--craftax-run RUN_DIR`), read
from its TensorBoard events, finished or still going: the run itself is started by hand (its
command is in BENCHMARKS.md).
"""

import statistics
import time
from pathlib import Path

import jax

ENV = "Craftax-Classic-Symbolic-v1"


class PerEnvResets:
    """The adapted env without its pool step: the gymnax pool vmaps its one-env step, which
    makes a world for every env on every step (the backend as it was before optimistic resets)."""

    def __init__(self, env):
        self.reset, self.step, self.default_params = env.reset, env.step, env.default_params
        self.observation_space, self.action_space = env.observation_space, env.action_space


def random_stepping(pool, steps: int):
    """A jitted program: `steps` steps of the pool with uniform random actions."""
    actions = pool.spec.num_actions

    @jax.jit
    def run(handle, key):
        def one(carry, key):
            handle, _ = pool.step(carry, jax.random.randint(key, (pool.num_envs,), 0, actions))
            return handle, ()

        return jax.lax.scan(one, handle, jax.random.split(key, steps))[0]

    return run


def interleaved(programs: dict, repeats: int) -> dict[str, float]:
    """{label: median seconds} of zero-argument callables (compiled by a first call), interleaved."""
    for program in programs.values():
        program()
    times: dict[str, list[float]] = {label: [] for label in programs}
    for _ in range(repeats):
        for label, program in programs.items():
            start = time.perf_counter()
            program()
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(seconds) for label, seconds in times.items()}


def stepping(num_envs: int, steps: int, repeats: int) -> dict[str, float]:
    """{way: env steps/s} with random actions, each way's pool of `num_envs` envs."""
    from jaxrl.envs import craftax, gymnax

    env, params = craftax.named(ENV)
    seeds = list(range(num_envs))
    programs = {}
    for way, instance in (("a world per env per step", PerEnvResets(env)), ("optimistic resets", env)):
        pool = gymnax.make(ENV, seeds, instance=(instance, params))
        run, handle = random_stepping(pool, steps), pool.reset()[0]
        programs[way] = lambda run=run, handle=handle: jax.block_until_ready(run(handle, jax.random.PRNGKey(0)))
    return {way: num_envs * steps / seconds for way, seconds in interleaved(programs, repeats).items()}


# Feed-forward PPO with the [craftax] preset's settings but 64 envs (a CPU's): one member.
PPO = dict(num_envs=64, rollout_steps=64, num_minibatches=8, recurrent="none", total_steps=64 * 64 * 1000)


def ppo_sps(repeats: int, iterations: int = 1) -> dict[str, float]:
    """{way: env steps/s} of PPO iterations (collect and update, one program), interleaved."""
    import numpy as np

    from jaxrl.algos import get_algorithm
    from jaxrl.config import resolve
    from jaxrl.envs import craftax
    from jaxrl.training.assembly import assemble
    from jaxrl.training.fleet import train_chunk
    from jaxrl.training.population import seed_population

    env, params = craftax.named(ENV)
    algorithm, programs = get_algorithm("ppo"), {}
    for way, instance in (("a world per env per step", PerEnvResets(env)), ("optimistic resets", env)):
        config = resolve(algorithm, {**craftax_preset(), **PPO}, env_instance=(instance, params))
        population = seed_population(algorithm, config)
        parts = assemble(config, population.seeds)
        runner = list(parts.programs.init(np.asarray(population.seeds, np.int32), population.hyper))

        def program(parts=parts, runner=runner, hyper=population.hyper):
            runner[0], runner[1], metrics = train_chunk(parts.programs, *runner, hyper, num_iterations=iterations)
            jax.block_until_ready(metrics)

        programs[way] = program
    steps = iterations * PPO["num_envs"] * PPO["rollout_steps"]
    return {way: steps / seconds for way, seconds in interleaved(programs, repeats).items()}


def craftax_preset() -> dict:
    """PPO's [craftax] table (an env object from Python gets no family's table)."""
    from jaxrl.config import load_preset

    return {key: value for key, value in load_preset("ppo", ENV, "craftax").items() if key != "log_every"}


def craftax(repeats: int, num_envs: int = 64, steps: int = 64) -> dict:
    measured = {"random actions": stepping(num_envs, steps, repeats), "PPO, 1 member": ppo_sps(repeats)}
    lines = [
        f"| {ENV}, {num_envs} envs | a world per env per step | optimistic resets | speed-up |",
        "|---|---|---|---|",
    ]
    for what, sps in measured.items():
        before, after = sps.values()
        lines.append(f"| {what}, env steps/s | {before:,.0f} | {after:,.0f} | {after / before:.1f}x |")
    return {
        "text": "\n".join(lines),
        "figures": {"repeats": repeats, "num_envs": num_envs, "random_steps": steps, "ppo": PPO, "sps": measured},
        "goals": [],
    }


def scalars(member_dir) -> dict[str, list]:
    """{tag: [(wall time, env step, value)]} of a member's TensorBoard events."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    events = EventAccumulator(str(member_dir), size_guidance={SCALARS: 0}).Reload()
    return {tag: [(e.wall_time, e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def late_mean(series: list, points: int = 5) -> float:
    """The mean of a tag's last `points` values (the last iterations that ended episodes)."""
    return statistics.fmean(value for *_, value in series[-points:])


def craftax_run(run_dir: str | None, planned_steps: int = 1_000_000) -> dict:
    """A Craftax run's figures, read from its TensorBoard events (finished or still going): env
    steps reached, the steady rate (between the first and last logged iteration, so without the
    compile), the projected time to `planned_steps`, and the end's return, % of max and the rate
    of each achievement (means of the last 5 logged iterations, then over members)."""
    import json

    if run_dir is None:
        return {"text": "(skipped: pass --craftax-run RUN_DIR)", "figures": {}, "goals": []}
    run = Path(run_dir)
    members = {path.name: scalars(path) for path in sorted(run.iterdir()) if path.is_dir() and path.name[0] == "s"}
    config = json.loads((run / "config.json").read_text())
    series = [t["charts/recent_return"] for t in members.values()]
    steps = min(points[-1][1] for points in series)
    # events are written at each chunk's end: the rate runs from the first chunk's end to the last's
    first = max((wall, step) for wall, step, _ in series[0] if wall - series[0][0][0] < 1.0)
    last = series[0][-1][:2]
    rate = (last[1] - first[1]) / max(last[0] - first[0], 1e-9)  # env steps/s per member
    elapsed = last[0] - (run / "config.json").stat().st_mtime  # from the run's start, compile included
    projected = (elapsed + (planned_steps - last[1]) / rate) / 3600
    tags = sorted({tag for t in members.values() for tag in t if tag.startswith("craftax/")})
    end = {tag: statistics.fmean(late_mean(t[tag]) for t in members.values() if tag in t) for tag in tags}
    end_return = statistics.fmean(late_mean(t["charts/episodic_return"]) for t in members.values())
    lines = [
        f"| {config['env']} {config['algo']} ({config['static']['recurrent']}), {len(members)} members "
        "| env steps per member | hours | env steps/s per member (all members) | projected hours to "
        f"{planned_steps:,} | return | % of max |",
        "|---|---|---|---|---|---|---|",
        f"| {config['static']['num_envs']} envs x {config['static']['rollout_steps']} steps | {steps:,} "
        f"| {elapsed / 3600:.2f} "
        f"| {rate:,.0f} ({rate * len(members):,.0f}) | {projected:.1f} "
        f"| {end_return:.2f} | {end['craftax/percent_of_max']:.1f} |",
        "",
        "| achievement | episodes that unlocked it, at the end |",
        "|---|---|",
        *(
            f"| {tag.removeprefix('craftax/achievement/')} | {end[tag]:.2f} |"
            for tag in sorted(tags, key=lambda tag: -end[tag])
            if tag.startswith("craftax/achievement/") and end[tag] > 0
        ),
    ]
    figures = {
        "env_steps_per_member": steps,
        "hours": elapsed / 3600,
        "projected_hours": projected,
        "sps_per_member": rate,
        "end_return": end_return,
        "end": end,
    }
    plot_run(members, ["craftax/percent_of_max", *sorted(tags, key=lambda tag: -end[tag])[:5]], FIGURE)
    lines += ["", f"Curves per member: `{FIGURE.relative_to(FIGURE.parents[1])}`."]
    return {"text": "\n".join(lines), "figures": {**figures, "static": config["static"]}, "goals": []}


FIGURE = Path(__file__).resolve().parent.parent / "docs" / "craftax-run.png"


def plot_run(members: dict, tags: list[str], path: Path) -> None:
    """One panel per tag (a run's score, then its most unlocked achievements), a line per member,
    against env steps per member: the curves TensorBoard shows, kept beside BENCHMARKS.md."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tags = list(dict.fromkeys(tags))  # the score may rank among the achievements' tags too
    figure, axes = plt.subplots(1, len(tags), figsize=(3.2 * len(tags), 2.8), squeeze=False)
    for axis, tag in zip(axes[0], tags, strict=True):
        for name, series in members.items():
            points = series.get(tag, [])
            axis.plot([step for _, step, _ in points], [value for *_, value in points], label=name, linewidth=1)
        axis.set_title(tag.removeprefix("craftax/achievement/").removeprefix("craftax/"), fontsize=9)
        axis.set_xlabel("env steps per member", fontsize=8)
        axis.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
