"""EnvPool's MuJoCo pools through the XLA call: float64 inside the call only, the same steps as
EnvPool's host API, Box specs; MuJoCo ids resolve to EnvPool and its preset family, never Atari's."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs import env_family, env_seeds, is_atari_id, make_env, resolve_env_id
from jaxrl.envs.envpool import registry


def test_halfcheetah_steps_in_jit_as_the_host_api_does_with_float32_around_the_call():
    env = make_env("HalfCheetah-v5", env_seeds(0, 2))
    host = registry().make("HalfCheetah-v5", env_type="gymnasium", num_envs=2, seed=env_seeds(0, 2))
    try:
        spec = env.spec
        assert spec.obs_shape == (17,) and spec.obs_dtype == "float32" and spec.continuous
        assert spec.action_shape == (6,) and spec.action_low == (-1.0,) * 6 and spec.action_high == (1.0,) * 6
        actions = np.random.default_rng(0).uniform(-1, 1, (30, 2, 6)).astype(np.float32)

        @jax.jit
        def rollout(handle, actions):
            return jax.lax.scan(lambda h, a: env.step(h, a), handle, actions)[1]

        handle, _ = env.reset()
        program = rollout.lower(handle, actions).as_text()
        steps = jax.device_get(rollout(handle, actions))
        assert not jax.config.jax_enable_x64  # 64-bit mode stayed inside the call
        assert steps.obs.dtype == np.float32 and steps.reward.dtype == np.float32
        assert program.count("f64") < 20  # only at the call: its operands and their casts
        host.reset()
        for t in range(30):
            obs, reward, terminated, truncated, _ = host.step(actions[t].astype(np.float64))
            np.testing.assert_allclose(steps.obs[t], obs.astype(np.float32), rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(steps.reward[t], reward, rtol=1e-6, atol=1e-6)
    finally:
        env.close()
        host.close()


def test_mujoco_ids_are_envpool_continuous_control_and_not_atari():
    for env_id in ("HalfCheetah-v5", "Hopper-v4", "Walker2d-v5", "Ant-v5", "Humanoid-v4", "InvertedPendulum-v4"):
        assert resolve_env_id(env_id) == (env_id, "envpool")
        assert not is_atari_id(env_id) and env_family(env_id, "envpool") == "mujoco"
    assert is_atari_id("Pong-v5") and env_family("Pong-v5", "envpool") == "atari"
    assert resolve_env_id("Pendulum-v1") == ("Pendulum-v1", "envpool")
    assert env_family("Pendulum-v1", "envpool") == "classic"


def test_pendulum_takes_float32_actions_and_clipping_is_the_runners():
    env = make_env("Pendulum-v1", env_seeds(0, 1))
    try:
        assert env.spec.action_shape == (1,) and env.spec.action_high == (2.0,)
        handle, _ = env.reset()
        _, step = jax.jit(env.step)(handle, jnp.array([[1.5]]))
        assert step.obs.shape == (1, 3) and step.obs.dtype == np.float32
    finally:
        env.close()
