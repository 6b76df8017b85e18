"""rejax peer for the gymnax benchmarks (run by .venv-rejax's Python: rejax 0.1.3 with gymnax<1.0,
which it needs): PPO with rejax's own tuned settings, every seed vmapped in ONE jitted program,
then each seed's final greedy return (argmax of the policy's logits) over `episodes` games.

    .venv-rejax/bin/python experiments/rejax_peer.py ENV SEEDS [EPISODES]
    -> one JSON line {"train_s": ..., "returns": [greedy mean return per seed]}

Its clock is the caller's (whole process); rejax's periodic evaluations (128 stochastic games
every eval_freq steps) are turned off so that its time is training only, as jaxrl's is.
"""

# ruff: noqa: E402
import json
import sys
import time

import jax
import jax.numpy as jnp
import rejax

# rejax's configs: configs/gymnax/cartpole.yaml and benchmark/breakout_1m.yaml (PPO)
SETTINGS = {
    "CartPole-v1": dict(
        agent_kwargs={"activation": "tanh"}, num_envs=5, num_steps=100, num_epochs=5, num_minibatches=5,
        learning_rate=0.00075, max_grad_norm=0.5, total_timesteps=100_000, gamma=0.99, gae_lambda=0.95,
        clip_eps=0.2, ent_coef=0.01, vf_coef=0.5,
    ),
    "Breakout-MinAtar": dict(
        agent_kwargs={"activation": "tanh"}, num_envs=32, num_steps=32, num_epochs=4, num_minibatches=4,
        learning_rate=0.00025674088686342003, max_grad_norm=1, total_timesteps=1_000_000, gamma=0.995,
        gae_lambda=0.95, clip_eps=0.2, ent_coef=0.01, vf_coef=0.5,
    ),
}  # fmt: skip


def greedy_returns(algo, ts, episodes: int, key):
    """Mean return of `episodes` greedy games of one trained seed (gymnax 0.x's 5-value step)."""
    env, params = algo.env, algo.env_params

    def act(obs):
        logits = algo.actor.apply(ts.actor_ts.params, obs[None], method="_action_dist").logits
        return jnp.argmax(logits[0])

    def game(key):
        reset_key, key = jax.random.split(key)
        obs, state = env.reset(reset_key, params)

        def step(carry):
            obs, state, key, total, done, length = carry
            key, step_key = jax.random.split(key)
            obs, state, reward, done, _ = env.step(step_key, state, act(obs), params)
            return obs, state, key, total + reward, done, length + 1

        carry = (obs, state, key, 0.0, False, 0)
        carry = jax.lax.while_loop(lambda c: ~c[4] & (c[5] < params.max_steps_in_episode), step, carry)
        return carry[3]

    return jnp.mean(jax.vmap(game)(jax.random.split(key, episodes)))


def main() -> None:
    env_id, seeds = sys.argv[1], int(sys.argv[2])
    episodes = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    config = dict(SETTINGS[env_id], env=env_id)
    config["eval_freq"] = config["total_timesteps"]
    algo = rejax.get_algo("ppo").create(**config, skip_initial_evaluation=True)
    algo = algo.replace(eval_callback=lambda algo, ts, rng: jnp.zeros(()))

    def train_and_score(key):
        ts, _ = algo.train(key)
        return greedy_returns(algo, ts, episodes, jax.random.fold_in(key, 1))

    start = time.perf_counter()
    returns = jax.jit(jax.vmap(train_and_score))(jax.random.split(jax.random.PRNGKey(0), seeds))
    returns = [float(r) for r in jax.device_get(returns)]
    print(json.dumps({"train_s": round(time.perf_counter() - start, 2), "returns": returns}))


if __name__ == "__main__":
    main()
