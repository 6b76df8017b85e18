"""Play a policy exported by `jaxrl export` with gymnasium and onnxruntime only: no JAX, no jaxrl.

    jaxrl export runs/CartPole-v1/ppo/<name>                    # writes <run dir>/policy-s0
    python examples/onnx_inference.py runs/CartPole-v1/ppo/<name>/policy-s0 --episodes 10

Game i starts from `env.reset(seed=(seed * 100_003 + i) % 2**31)`, the seeds `jaxrl eval --seed`
gives its envs: where the run's envs are gymnasium's (`--backend gymnasium`) both play the same
games. policy.json says what policy.onnx expects: its observation shape and dtype, the action
space; the action is the greedy one (Box actions already inside the bounds). Atari frames are
preprocessed and stacked here with gymnasium's wrappers, close to EnvPool's (not bit for bit).
"""

import argparse
import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import onnxruntime


def make_env(info: dict):
    env_id, shape = info["env"]["id"], info["observation"]["shape"]
    if info["env"].get("atari"):
        import ale_py  # the Atari envs of gymnasium[atari]

        gym.register_envs(ale_py)
        env = gym.make(f"ALE/{env_id}", frameskip=1, repeat_action_probability=0.0, full_action_space=False)
        env = gym.wrappers.AtariPreprocessing(env, frame_skip=4, screen_size=shape[-1], noop_max=30)
        return gym.wrappers.FrameStackObservation(env, shape[0])
    return gym.make(env_id)


def play(session, env, info: dict, seed: int) -> float:
    dtype = np.dtype(info["observation"]["dtype"])
    discrete = info["action_space"]["type"] == "Discrete"
    obs, _ = env.reset(seed=seed)
    total, over = 0.0, False
    while not over:
        (action,) = session.run(["action"], {"obs": np.asarray(obs, dtype)[None]})  # a batch of one
        obs, reward, terminated, truncated, _ = env.step(int(action[0]) if discrete else action[0])
        total += float(reward)
        over = terminated or truncated
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a policy folder written by `jaxrl export`")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="as `jaxrl eval --seed`")
    args = parser.parse_args()
    info = json.loads((args.folder / "policy.json").read_text())
    if info["env"]["backend"] == "gymnax" or "-MinAtar" in info["env"]["id"]:
        print(f"{info['env']['id']} is a JAX (gymnax) env, which gymnasium does not have", file=sys.stderr)
        return 2
    session = onnxruntime.InferenceSession(str(args.folder / "policy.onnx"), providers=["CPUExecutionProvider"])
    env = make_env(info)
    returns = [play(session, env, info, (args.seed * 100_003 + i) % 2**31) for i in range(args.episodes)]
    env.close()
    print("returns:", " ".join(f"{r:g}" for r in returns))
    print(f"mean return {np.mean(returns):.2f} over {args.episodes} episodes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
