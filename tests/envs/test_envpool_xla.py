"""EnvPool's XLA calls under fixed names (`jaxrl.envs.envpool_xla`): a program stepping a pool holds
neither its address nor its id, so any two pools of a kind compile to the same program (what the
persistent cache keys on), and each pool steps as EnvPool's host API steps it."""

import importlib.metadata
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs import env_seeds, make_env
from jaxrl.envs.envpool import registry
from jaxrl.envs.envpool_xla import HANDLER_KNOWN_IN


def rollout(env):
    @jax.jit
    def run(handle, actions):
        return jax.lax.scan(lambda h, a: env.step(h, a), handle, actions)[1]

    return run


@pytest.mark.skipif(
    jax.default_backend() != "cpu" or importlib.metadata.version("envpool") not in HANDLER_KNOWN_IN,
    reason="the fixed-name calls are made on CPU with a checked EnvPool release only",
)
def test_two_pools_compile_to_one_program_free_of_their_addresses_and_step_as_the_host_api():
    actions = (np.arange(40 * 4).reshape(40, 4) * 7 % 3 % 2).astype(np.int32)
    envs = [make_env("CartPole-v1", env_seeds(seed, 4)) for seed in (0, 1)]
    hosts = [registry().make("CartPole-v1", env_type="gymnasium", num_envs=4, seed=env_seeds(s, 4)) for s in (0, 1)]
    try:
        programs = []
        for env, host in zip(envs, hosts, strict=True):
            handle, _ = env.reset()
            address = int.from_bytes(bytes(np.asarray(handle)), "little")
            program = rollout(env).lower(handle, actions).as_text()
            assert str(address) not in program and "jaxrl_envpool_CartPoleGymnasiumEnvPool_recv" in program
            programs.append(program)
            steps = jax.device_get(rollout(env)(handle, jnp.asarray(actions)))
            host.reset()
            for t in range(len(actions)):
                obs, reward, terminated, truncated, _ = host.step(actions[t])
                np.testing.assert_array_equal(steps.obs[t], obs)
                np.testing.assert_array_equal(steps.reward[t], reward)
                np.testing.assert_array_equal(steps.terminated[t], terminated)
        assert programs[0] == programs[1]
        assert not np.array_equal(steps.obs, jax.device_get(rollout(envs[0])(envs[0].reset()[0], actions)).obs)
    finally:
        for env in envs:
            env.close()
        for host in hosts:
            host.close()


def test_an_envpool_release_not_checked_keeps_its_own_call(monkeypatch):
    from jaxrl.envs import envpool_xla

    monkeypatch.setattr(envpool_xla, "HANDLER_KNOWN_IN", ())
    env = make_env("CartPole-v1", env_seeds(0, 2))
    try:
        handle, _ = env.reset()
        program = rollout(env).lower(handle, np.zeros((3, 2), np.int32)).as_text()
        assert "jaxrl_envpool_" not in program and "handle =" in program
    finally:
        env.close()


# Dispatches 5,000 steps without awaiting them, then closes and drops the pool.
CLOSED_UNDER_A_PROGRAM = """
import jax, jax.numpy as jnp
from jaxrl.envs import env_seeds, make_env
env = make_env("CartPole-v1", env_seeds(0, 4))
handle, _ = env.reset()
run = jax.jit(lambda h, a: jax.lax.scan(lambda h, a: env.step(h, a), h, a)[1].obs.sum())
total = run(handle, jnp.zeros((5000, 4), jnp.int32))
env.close()
del env, run
print("stepped", float(total))
"""


def test_closing_a_pool_waits_for_a_program_still_stepping_it():
    # without the wait, the program steps a freed pool: XLA FFI errors (bad_alloc) or a crash
    done = subprocess.run([sys.executable, "-c", CLOSED_UNDER_A_PROGRAM], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("stepped ")
