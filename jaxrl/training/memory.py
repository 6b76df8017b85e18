"""The memory a run will allocate, known before anything is allocated, and the refusal of a run
that cannot fit (SB3 only warns; a 35 GB replay on a 24 GB machine hangs or is killed).

The state and the rollouts come from `jax.eval_shape` of the very functions that make them, so
they are exact; the runtime (JAX, the compiled programs and their temporaries, the env pool) is
first an allowance measured on this project's machines (BENCHMARKS.md), recorded in config.json.
Once the run's programs are compiled, and before a big state is allocated, the estimate is made
again from what XLA says they hold (`compiled_estimate`), checked again and recorded in
summary.json (`memory`).
"""

import os
import resource
import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.config import RunConfig
from jaxrl.core.buffers import nbytes
from jaxrl.core.population import init_learning
from jaxrl.core.types import full_act, initial_carry
from jaxrl.errors import ConfigError
from jaxrl.training.assembly import num_iterations
from jaxrl.training.population import Population

# Peak RSS beyond state and rollouts, measured (BENCHMARKS.md, "memory"): ~0.4 GiB for CartPole,
# ~1.4 GiB for Pong DQN when its 32 Nature-CNN gradient steps were unrolled. Kept as the check made
# before anything compiles (generous: Pong PPO's loops now peak at 0.76 GiB, PQN's 2 members at
# 1.8 GiB); the one made once the programs are compiled (`compiled_estimate`) is the close one.
RUNTIME_BYTES = {"vector": 512 << 20, "image": 1536 << 20}
# What an accelerator's runtime holds beyond the compiled programs' temporaries, code and arguments.
PROCESS_BYTES = 512 << 20
GB = 1e9


class MemoryEstimate(NamedTuple):
    state_bytes: int  # every member's learning state: networks, optimizer, replay
    rollout_bytes: int  # one rollout of every member (observations, actions, rewards, flags, extras)
    runtime_bytes: int  # JAX, the compiled programs (their temporaries) and the env pool

    @property
    def total_bytes(self) -> int:
        return self.state_bytes + self.rollout_bytes + self.runtime_bytes

    def to_json(self) -> dict:
        return {**self._asdict(), "total_bytes": self.total_bytes}


def estimate(algorithm, config: RunConfig, population: Population) -> MemoryEstimate:
    """What training `population` with `config` will allocate, computed without allocating it."""
    static = config.static
    spec = config.spec  # probed once, by config.resolve
    agent = algorithm.build(static, spec, num_iterations(config, static))
    size, envs, steps = len(population.seeds), static.num_envs, static.rollout_steps
    learning = jax.eval_shape(
        lambda s, h: init_learning(agent, s, h), np.asarray(population.seeds, np.int32), population.hyper
    )
    obs = jax.ShapeDtypeStruct((envs, *spec.obs_shape), spec.obs_dtype)
    member = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), learning["agent"])
    first = jax.ShapeDtypeStruct((envs,), jnp.bool_)
    carry = jax.eval_shape(lambda: initial_carry(agent, envs))
    info = info_shapes(spec, envs, config.env_options)
    _, _, extras = jax.eval_shape(
        full_act(agent), member, carry, obs, first, info, jax.ShapeDtypeStruct((2,), jnp.uint32)
    )
    obs_bytes = int(np.prod(spec.obs_shape)) * np.dtype(spec.obs_dtype).itemsize
    action_bytes = 4 * int(np.prod(spec.action_shape))  # an int32 index, or a float32 vector (Box)
    # per env and step: observation, action, reward (float32), terminated, truncated, valid, first,
    # the info (mask, world state)
    step_bytes = obs_bytes + action_bytes + 4 + 4 + (nbytes(info) + nbytes(extras)) // envs
    # + per env whether the obs after the last step starts an episode and its info, and the carry
    # at the rollout's start
    edge_bytes = envs + nbytes(info) + nbytes(carry)
    # + per env the RunnerState's next observation and its info, prev_done and first (bools), running
    # return and length (4 + 4), and the agent's carry
    state = nbytes(learning) + size * (envs * (obs_bytes + 2 + 4 + 4) + nbytes(info) + nbytes(carry))
    if config.pbt:  # an exploit step holds the copied members' networks (and replays) once more, briefly
        copy_replay = config.pbt.copy_replay and algorithm.replay
        copied = algorithm.networks + ((algorithm.replay,) if copy_replay else ())
        per_member = sum(nbytes(getattr(learning["agent"], name)) for name in copied) // size
        state += config.seeds * max(1, int(config.pbt.truncation * config.pbt.population)) * per_member
    kind = "image" if len(spec.obs_shape) == 3 else "vector"
    return MemoryEstimate(state, size * (envs * steps * step_bytes + edge_bytes), RUNTIME_BYTES[kind])


def info_shapes(spec, envs: int, env_options: dict) -> dict | tuple:
    """What `Step.info` holds per step for `envs` envs, as shapes: the action mask where the env
    reports one, a multi-agent env's world state where the run asks for it (mappo); () for none."""
    info = {}
    if spec.action_masks:
        info["action_mask"] = jax.ShapeDtypeStruct((envs, spec.num_actions), jnp.bool_)
    if env_options.get("world_state"):
        info["world_state"] = jax.ShapeDtypeStruct((envs, spec.world_state_size), jnp.float32)
    return info or ()


def compiled_estimate(need: MemoryEstimate, compiled: dict, state_made: bool) -> tuple[MemoryEstimate, dict]:
    """`need` with its runtime allowance replaced by what is known once the run's programs
    ({name: a `jax.stages.Compiled`}) are compiled. They run in turn, so the largest temporaries
    of any one count (XLA's memory analysis), on top of their arguments (state and rollouts).
    On CPU all of it lives in this process: the peak is its resident memory now (Python, JAX,
    the env pool, the compiled code; the state too if `state_made`) plus what is still to come,
    or the peak so far (the compiler's) if that was higher. Elsewhere the device holds the
    temporaries, the generated code and the state, beside PROCESS_BYTES of the runtime's own.
    Returns it and its record for summary.json."""
    analyses = {name: program.memory_analysis() for name, program in compiled.items()}
    temp = {name: int(a.temp_size_in_bytes) for name, a in analyses.items()}
    code = sum(int(a.generated_code_size_in_bytes) for a in analyses.values())
    resident = resident_bytes()
    if jax.default_backend() == "cpu" and resident is not None:
        arrays = need.state_bytes + need.rollout_bytes
        peak = max(peak_rss_bytes(), resident + max(temp.values()) + arrays - need.state_bytes * state_made)
        runtime = peak - arrays
    else:
        runtime = PROCESS_BYTES + max(temp.values()) + code
    after = need._replace(runtime_bytes=runtime)
    return after, {**after.to_json(), "temp_bytes": temp, "code_bytes": code, "resident_bytes": resident}


def resident_bytes() -> int | None:
    """This process's resident memory now (Linux's VmRSS), None where /proc has no figure."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
    except (OSError, StopIteration, ValueError):
        return None


def available_bytes() -> tuple[int, str]:
    """(bytes free for the run, where): the accelerator's free memory, else the host's available
    memory (Linux's MemAvailable: free plus what the page cache can give back)."""
    device = jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return stats["bytes_limit"] - stats.get("bytes_in_use", 0), f"{device.device_kind} ({device.platform})"
    try:
        with open("/proc/meminfo") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        return int(fields["MemAvailable"].split()[0]) * 1024, "this machine"
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "this machine"


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far (the host's; a GPU's memory is not in it)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS says bytes, Linux KiB


def check_fits(need: MemoryEstimate, force: bool, runtime: str = "runtime") -> None:
    """ConfigError (one line, naming both figures) when the run needs more than is free;
    `runtime`: what the runtime figure is (the allowance, or the compiled programs')."""
    free, where = available_bytes()
    if need.total_bytes <= free or force:
        return
    raise ConfigError(
        f"the run needs about {need.total_bytes / GB:.1f} GB (learning state {need.state_bytes / GB:.1f} GB, "
        f"rollouts {need.rollout_bytes / GB:.1f} GB, {runtime} {need.runtime_bytes / GB:.1f} GB) but {where} has "
        f"{free / GB:.1f} GB free: lower --buffer-size, --seeds or --num-envs, or pass --force True to try anyway"
    )
