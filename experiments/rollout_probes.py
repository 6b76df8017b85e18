"""Where the synchronous Pong rollout's seconds go beyond env stepping and acting apart (PPO's Pong
preset, 1 member; BENCHMARKS "Stop 29: the CPU goals again"):

  python experiments/rollout_probes.py act-batch [--rounds 8]   128 acts on 2, 4 and 8 of the envs'
      frames, interleaved: what acting on half the envs twice per step (pipelined pools) costs
  python experiments/rollout_probes.py handover [--rounds 8]    env stepping alone, acting alone,
      act-then-step in one loop with nothing recorded, and the rollout as training runs it
  python experiments/rollout_probes.py beside-update [--rounds 8]   the update alone, the rollout
      alone, and both at once from two threads (the next rollout acting on the parameters before
      the update, as a lag of one update would), against the overlap goal's bound
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402


def report(timers: dict, rounds: int) -> dict[str, float]:
    """Prints each timer's rounds (interleaved, the first, compiling, left out): {label: median ms}."""
    medians = {}
    for label, seconds in bench.interleaved_parts({"probe": timers}, rounds)["probe"].items():
        ms = [round(1000 * s) for s in seconds]
        medians[label] = statistics.median(ms)
        print(f"{label}: median {medians[label]} ms, rounds {ms}")
    return medians


def act_batch(rounds: int) -> None:
    parts, state, _, _ = bench.pong_assembly("ppo", 1, total_steps=10**8)
    loops = {envs: bench.acting(parts, 1, envs) for envs in (2, 4, 8)}
    report(
        {
            f"acts on {envs} envs": lambda loop=loop: bench.timed(lambda: loop(state.agent, state.obs, state.key))
            for envs, loop in loops.items()
        },
        rounds,
    )
    parts.env.close()


def handover(rounds: int) -> None:
    import jax

    from jaxrl.core.population import over_members, split_keys

    parts, state, handle, _ = bench.pong_assembly("ppo", 1, total_steps=10**8)
    env, steps, act = parts.env, parts.static.rollout_steps, over_members(parts.agent.act, 1)
    act_alone, env_alone = bench.acting(parts, 1), bench.env_stepping(parts)
    run = bench.Running(parts.programs, state, handle)  # every timer steps the same pool: its handle moves on

    @jax.jit
    def act_then_step(agent, obs, key, handle):
        def one(carry, _):
            key, obs, handle = carry
            key, use = split_keys(key)
            action = act(agent, obs, use)[0]
            handle, step = env.step(handle, action.reshape(-1))
            return (key, step.obs.reshape(obs.shape), handle), None

        return jax.lax.scan(one, (key, obs, handle), None, length=steps)[0][2]

    agent = lambda: (run.state.agent, run.state.obs, run.state.key)  # noqa: E731
    timers = {
        "env": lambda: bench.timed(lambda: run.step(env_alone, jax.random.PRNGKey(0))),
        "act": lambda: bench.timed(lambda: act_alone(*agent())),
        "act then step, nothing recorded": lambda: bench.timed(lambda: run.step(act_then_step, *agent())),
        "rollout": lambda: bench.timed(run.collect),
    }
    report(timers, rounds)
    env.close()


def beside_update(rounds: int) -> None:
    import threading

    import jax

    parts, state, handle, hyper = bench.pong_assembly("ppo", 1, total_steps=10**8)
    programs, copy = parts.programs, lambda tree: jax.tree.map(jax.numpy.copy, tree)
    run = bench.Running(programs, state, handle)
    learned = run.collect()  # the rollout every update learns from

    def learn():
        return programs.update(copy(run.state), *learned, hyper)

    def both():
        learning = copy(run.state)  # copied before the rollout donates it, as the loop would keep it
        thread = threading.Thread(target=lambda: jax.block_until_ready(programs.update(learning, *learned, hyper)))
        start = time.perf_counter()
        thread.start()
        jax.block_until_ready(run.collect())
        thread.join()
        return time.perf_counter() - start

    act = bench.acting(parts, 1)
    timers = {
        "learn": lambda: bench.timed(learn),
        "rollout": lambda: bench.timed(run.collect),
        "act": lambda: bench.timed(lambda: act(run.state.agent, run.state.obs, run.state.key)),
    }
    ms = report({**timers, "both at once": both}, rounds)
    print(f"the overlap goal's bound, 1.1 x learn + act: {1.1 * ms['learn'] + ms['act']:.0f} ms")
    parts.env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("probe", choices=["act-batch", "handover", "beside-update"])
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    from jaxrl.api import enable_compilation_cache

    enable_compilation_cache()
    {"act-batch": act_batch, "handover": handover, "beside-update": beside_update}[args.probe](args.rounds)


if __name__ == "__main__":
    main()
