"""`jaxrl eval RUN_DIR`: play a run's latest checkpoint, every member at once.

Evaluation plays whole games: no reward clipping, no episodic life, returns in the game's own
score. Each member plays `episodes` games on envs seeded alike for every member, one game per
env, greedy on its action preferences (policy logits or Q-values) or, with `stochastic`, with
its training behaviour (sampled actions, DQN's epsilon at the checkpoint's step).
"""

from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.algos import Agent
from jaxrl.runner import over_members

MAX_STEPS = 100_000  # agent steps; every env truncates long before (Atari: 27,000)


class Scores(NamedTuple):
    returns: np.ndarray  # [P, episodes]
    lengths: np.ndarray  # [P, episodes] agent steps


def action_fn(agent: Agent, stochastic: bool):
    """(member state, obs [E, ...], key) -> actions [E]."""

    def act(state, obs, key):
        if stochastic:
            return agent.act(state, obs, key)[0]
        return jnp.argmax(agent.preferences(state, obs), axis=-1).astype(jnp.int32)

    return act


def play(agent: Agent, agent_state, env, population: int, seed: int, stochastic: bool) -> Scores:
    """The first game of each of the env's P x episodes envs, member p acting in envs
    p * episodes .. (p + 1) * episodes - 1. `agent_state` has the population axis."""
    episodes = env.num_envs // population
    act = over_members(action_fn(agent, stochastic), population)

    @jax.jit
    def step(state, handle, obs, keys):
        keys, act_keys = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
        action = act(state, obs.reshape(population, episodes, *obs.shape[1:]), act_keys)
        handle, result = env.step(handle, action.reshape(-1))
        return handle, result, keys

    handle, obs = env.reset()
    keys = jax.random.split(jax.random.PRNGKey(seed), population)
    returns, lengths = np.zeros(env.num_envs), np.zeros(env.num_envs, np.int64)
    over = np.zeros(env.num_envs, bool)
    for _ in range(MAX_STEPS):
        handle, result, keys = step(agent_state, handle, obs, keys)
        obs = result.obs
        playing = ~over
        returns += np.where(playing, np.asarray(result.game_reward), 0.0)
        lengths += playing
        over |= np.asarray(result.game_over)
        if over.all():
            break
    return Scores(returns.reshape(population, episodes), lengths.reshape(population, episodes))


def score_lines(names: list[str], scores: Scores) -> list[str]:
    return [
        f"{name}: return {returns.mean():.1f} ± {returns.std():.1f}, length {lengths.mean():.1f} ± {lengths.std():.1f}"
        f" over {returns.size} episodes"
        for name, returns, lengths in zip(names, scores.returns, scores.lengths, strict=True)
    ]


def evaluate(
    config, run_dir: Path, episodes: int, seed: int, stochastic: bool, runs: list[str] | None, video: bool = False
) -> dict:
    """Plays the latest checkpoint of `run_dir` (whose config.json is `config`); writes and
    returns eval.json: per member, every episode's return and length. `video`: one more game per
    member, rendered through gymnasium, into <run dir>/eval-<member>.mp4."""
    from jaxrl import checkpoints
    from jaxrl.algos import get_algorithm
    from jaxrl.config import ConfigError
    from jaxrl.envs import env_seeds, make_env
    from jaxrl.logging import write_json
    from jaxrl.runner import checkpoint_like, population_of

    algorithm = get_algorithm(config.algo)
    static = algorithm.Static(**config.static)
    population = population_of(algorithm, config)
    members = list(range(len(population.names)))
    if runs:
        unknown = [name for name in runs if name not in population.names]
        if unknown:
            raise ConfigError(
                f"--run {', '.join(unknown)}: no such member in {run_dir} (members: {', '.join(population.names)})"
            )
        members = [population.names.index(name) for name in runs]
    step = checkpoints.latest_step(run_dir)
    options = dict(config.env_options, episodic_life=False, reward_clip=False) if config.env_options else {}
    env = make_env(config.env, env_seeds(seed, episodes) * len(members), config.backend, **options)
    try:
        num_iterations = config.total_steps // (static.num_envs * static.rollout_steps)
        agent = algorithm.build(static, env.spec, num_iterations)
        seeds = np.asarray(population.seeds, np.int32)
        like = checkpoint_like(agent, seeds, population.hyper, with_replay=False)
        saved = checkpoints.restore_state(run_dir, like, step, partial=True)
        agent_state = jax.tree.map(lambda x: x[np.asarray(members)], saved["agent"])
        scores = play(agent, agent_state, env, len(members), seed, stochastic)
    finally:
        env.close()
    names = [population.names[member] for member in members]
    videos = {}
    if video:
        from jaxrl.video import record_game, write_video

        for index, name in enumerate(names):
            member_state = jax.tree.map(lambda x: x[index], agent_state)  # noqa: B023 (used at once)
            frames, fps, score = record_game(agent, member_state, config.env, seed, stochastic, **config.env_options)
            videos[name] = {"path": str(write_video(frames, fps, Path(run_dir) / f"eval-{name}")), "return": score}
    result = {
        "run_dir": str(run_dir),
        "checkpoint_step": step,
        "policy": "stochastic" if stochastic else "greedy",
        "seed": seed,
        "members": {
            name: {"returns": returns.tolist(), "lengths": lengths.tolist()}
            for name, returns, lengths in zip(names, scores.returns, scores.lengths, strict=True)
        },
        "videos": videos,
    }
    write_json(Path(run_dir) / "eval.json", result)
    result["lines"] = score_lines(names, scores)
    return result
