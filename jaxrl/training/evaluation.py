"""Playing a run's latest checkpoint: `jaxrl eval RUN_DIR`, `jaxrl.evaluate` and `jaxrl.load`.

Evaluation plays whole games: no reward clipping, no episodic life, returns in the game's own
score. Each member plays `episodes` games on envs seeded alike for every member, one game per
env, greedy (the argmax of its policy logits or Q-values; for Box actions the deterministic
action: a Gaussian's mean, SAC's tanh of it) or, with `stochastic`, with its training behaviour
(sampled actions, DQN's epsilon at the checkpoint's step). Box actions are clipped to the
bounds. What is read from the checkpoint is the agent state without its replay (which stays on
disk), running observation statistics included.
"""

from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.algos import get_algorithm
from jaxrl.config import RunConfig
from jaxrl.core.compiling import jit_once
from jaxrl.core.distributions import action_mask, masked_argmax
from jaxrl.core.population import over_members, split_keys
from jaxrl.core.types import Agent, EnvSpec, full_act, initial_carry, reset_env
from jaxrl.envs import OBSERVATION_PICTURES, POOL_DRAWINGS, make_env, renderer, video_refusal
from jaxrl.envs.gymnasium import make_game
from jaxrl.envs.pictures import PICTURE_FPS, picture
from jaxrl.errors import ConfigError
from jaxrl.logs.files import write_json
from jaxrl.logs.video import write_video
from jaxrl.training import checkpoints
from jaxrl.training.assembly import assemble
from jaxrl.training.population import Population, population_of

MAX_STEPS = 100_000  # agent steps; every env truncates long before (Atari: 27,000)
# ~1 GB of Atari frames in colour: a longer game is cut there (and one without a time limit ends).
MAX_VIDEO_FRAMES = 10_000


class Scores(NamedTuple):
    returns: np.ndarray  # [P, episodes]
    lengths: np.ndarray  # [P, episodes] agent steps


def acting_fn(agent: Agent, stochastic: bool, spec: EnvSpec):
    """(member state, carry, obs [E, ...], first [E], key, info) -> (actions [E], or [E, A] inside
    the bounds (Box), carry): the carry of a recurrent agent moves on (reset where `first`), a
    feed-forward agent's () passes through. `info` (`Step.info`, () for none) holds the legal
    actions of an env that reports them."""
    sample = full_act(agent)

    def act(state, carry, obs, first, key, info=()):
        if stochastic:
            action, carry, _ = sample(state, carry, obs, first, info, key)
            return spec.clip_action(action), carry
        if agent.initial_carry is None:
            preferences = agent.preferences(state, obs)
        else:
            preferences, carry = agent.preferences(state, carry, obs, first)
        if spec.continuous:  # the preference is the deterministic action itself
            return spec.clip_action(preferences), carry
        return masked_argmax(preferences, action_mask(info)), carry

    return act


def action_fn(agent: Agent, stochastic: bool, spec: EnvSpec):
    """A feed-forward agent's acting without a carry (what an export gives): (member state, obs
    [E, ...], key, info) -> actions, as `acting_fn`'s."""
    if agent.initial_carry is not None:
        raise ConfigError(
            "a recurrent agent's policy carries a state from step to step: its export is not built yet "
            "(jaxrl.load(run) acts with it)"
        )
    act = acting_fn(agent, stochastic, spec)
    return lambda state, obs, key, info=(): act(state, (), obs, None, key, info)[0]


def first_steps(num_envs: int, started: bool) -> jax.Array:
    """`first` [E] of a game played from its start: the first obs starts it, no later one does
    (the games evaluation plays are whole: no episodic life, one game an env)."""
    return jnp.full((num_envs,), not started)


# Agent steps per call of the evaluation's program on a JAX env: its games run on the device
# without a host round trip per step (CartPole's 500 greedy steps: 8 calls, not 500). A host
# env (EnvPool, gymnasium) steps one at a time: it would step past the games' ends otherwise.
JAX_ENV_STEPS_PER_CALL = 64


def play(agent: Agent, agent_state, env, population: int, seed: int, stochastic: bool) -> Scores:
    """The first game of each of the env's P x episodes envs, member p acting in envs
    p * episodes .. (p + 1) * episodes - 1. `agent_state` has the population axis."""
    episodes = env.num_envs // population
    act = over_members(acting_fn(agent, stochastic, env.spec), population)
    per_call = JAX_ENV_STEPS_PER_CALL if env.jax_native else 1

    def per_member(x):  # [P * episodes, ...] -> [P, episodes, ...]
        return x.reshape(population, episodes, *x.shape[1:])

    # a JAX env's games are a few calls of 64 steps; a host env's, a call per step: those run
    # thousands of times, so they get XLA's full optimisation
    @(jit_once if env.jax_native else jax.jit)
    def steps(state, carry, handle, obs, info, keys, started):
        """`per_call` steps -> (carry, handle, obs, info, keys, (game rewards, game overs) [per_call, N]);
        only a game's first step (the first of all, unless `started`) is `first`."""

        def step(loop, first):
            carry, handle, obs, info, keys = loop
            # greedy acting reads no key (`keys` is ()): no split to compile (a fifth of the program)
            keys, act_keys = split_keys(keys) if stochastic else ((), ())
            action, carry = act(
                state, carry, per_member(obs), per_member(first), act_keys, jax.tree.map(per_member, info)
            )
            handle, result = env.step(handle, action.reshape(population * episodes, *action.shape[2:]))
            return (carry, handle, result.obs, result.info, keys), (result.game_reward, result.game_over)

        # the games are whole (no episodic life, one game an env): only their first obs starts one
        firsts = jnp.zeros((per_call, env.num_envs), bool).at[0].set(~started)
        return jax.lax.scan(step, (carry, handle, obs, info, keys), firsts)

    def opening(seed):
        """(carry, handle, obs, info, keys): where the games start."""
        handle, obs, info = reset_env(env)
        carry = jax.tree.map(per_member, initial_carry(agent, env.num_envs))
        keys = jax.random.split(jax.random.PRNGKey(seed), population) if stochastic else ()
        return carry, handle, obs, info, keys

    # a JAX env's reset and the members' keys are one program: no eager key split, one compile
    loop = jit_once(opening)(seed) if env.jax_native else opening(seed)
    returns, lengths = np.zeros(env.num_envs), np.zeros(env.num_envs, np.int64)
    over = np.zeros(env.num_envs, bool)
    for t in range(0, MAX_STEPS, per_call):
        loop, (rewards, ends) = steps(agent_state, *loop, t > 0)
        for reward, end in list(zip(np.asarray(rewards), np.asarray(ends), strict=True))[: MAX_STEPS - t]:
            playing = ~over
            returns += np.where(playing, reward, 0.0)
            lengths += playing
            over |= end
        if over.all():
            break
    return Scores(returns.reshape(population, episodes), lengths.reshape(population, episodes))


def record_game(agent: Agent, member_state, spec: EnvSpec, seed: int, stochastic: bool, **options):
    """Plays one game with one member (its state without the population axis), without reward
    clipping or episodic life, up to MAX_VIDEO_FRAMES frames, rendered through gymnasium
    (EnvPool does not render); returns (frames [T, H, W, 3] uint8, fps, the return over those
    frames). Atari renders in colour, one frame per agent step: fps is the game's rate over the
    frame skip."""
    game, fps = make_game(spec.env_id, render=True, **dict(options, episodic_life=False, reward_clip=False))
    act = jax.jit(
        lambda state, carry, obs, first, key: acting_fn(agent, stochastic, spec)(state, carry, obs[None], first, key)
    )
    key = jax.random.PRNGKey(seed)
    obs = game.reset(seed)
    frames, total, carry = [game.env.render()], 0.0, initial_carry(agent, 1)
    try:
        while len(frames) < MAX_VIDEO_FRAMES:
            key, act_key = jax.random.split(key)
            action, carry = act(member_state, carry, jnp.asarray(obs), first_steps(1, len(frames) > 1), act_key)
            action = np.asarray(action[0])
            obs, _reward, _terminated, _truncated, game_reward, game_over = game.step(
                action if spec.continuous else int(action)
            )
            frames.append(game.env.render())
            total += game_reward
            if game_over:
                break
        return np.stack(frames).astype(np.uint8), fps, total
    finally:
        game.env.close()


def record_jax_game(agent: Agent, member_state, config: RunConfig, seed: int, stochastic: bool):
    """record_game for a JAX env: its frames are pictures of its image observations, or the pool
    draws them from its state (`Env.draw`). A multi-agent game's agents act together, each in its
    row, with the env's action masks; the return is the team's, its agents' rewards summed."""
    rows = len(config.spec.agents) or 1
    env = make_env(config.env, [seed] * rows, config.backend, config.env_instance, **config.env_options)
    act = acting_fn(agent, stochastic, env.spec)

    def frame(handle, obs) -> np.ndarray:
        return picture(obs[0]) if env.draw is None else env.draw(handle)

    @jax.jit
    def step(state, carry, handle, obs, info, key, first):  # one program: acting and stepping compile together
        key, act_key = jax.random.split(key)
        action, carry = act(state, carry, obs, first, act_key, info)
        handle, result = env.step(handle, action)
        return carry, handle, result, key

    key = jax.random.PRNGKey(seed)
    handle, obs, info = reset_env(env)
    frames, total, carry = [frame(handle, obs)], 0.0, initial_carry(agent, rows)
    while len(frames) < MAX_VIDEO_FRAMES:
        carry, handle, result, key = step(
            member_state, carry, handle, obs, info, key, first_steps(rows, len(frames) > 1)
        )
        obs, info = result.obs, result.info
        total += float(result.game_reward.sum())
        over = bool(result.game_over[0])
        if not (over and env.draw is not None):  # a drawn pool's state is already the next game's
            frames.append(frame(handle, obs))  # (JaxMARL resets inside its step)
        if over:
            break
    return np.stack(frames), PICTURE_FPS, total


def record(agent: Agent, member_state, config: RunConfig, seed: int, stochastic: bool):
    """A game of one member for a video (see record_game): drawn by gymnasium, from the env's
    image observations, or by the pool from its state, as its backend says."""
    if renderer(config.env, config.backend, config.env_instance) in (OBSERVATION_PICTURES, POOL_DRAWINGS):
        return record_jax_game(agent, member_state, config, seed, stochastic)
    return record_game(agent, member_state, config.spec, seed, stochastic, **config.env_options)


def score_lines(names: list[str], scores: Scores) -> list[str]:
    return [
        f"{name}: return {returns.mean():.1f} ± {returns.std():.1f}, length {lengths.mean():.1f} ± {lengths.std():.1f}"
        f" over {returns.size} episodes"
        for name, returns, lengths in zip(names, scores.returns, scores.lengths, strict=True)
    ]


def chosen_members(population: Population, runs: list[str] | None, run_dir: Path) -> list[int]:
    if not runs:
        return list(range(len(population.names)))
    unknown = [name for name in runs if name not in population.names]
    if unknown:
        raise ConfigError(
            f"--run {', '.join(unknown)}: no such member in {run_dir} (members: {', '.join(population.names)})"
        )
    return [population.names.index(name) for name in runs]


def restore_agents(parts, population: Population, run_dir: Path, step: int, members: list[int]):
    """The agent states of `members` (leaves [members, ...]) from the checkpoint at `step`, read
    without the replay."""
    seeds = np.asarray(population.seeds, np.int32)
    like = checkpoints.checkpoint_like(parts.algorithm, parts.agent, seeds, population.hyper)
    saved = checkpoints.restore_state(run_dir, like, step, partial=True)
    return jax.tree.map(lambda x: x[np.asarray(members)], saved["agent"])


def played(config: RunConfig, run_dir: Path, population: Population, members: list[int], episodes, seed, stochastic):
    """(checkpoint step, the assembled parts, the members' agent states, their Scores): `members`
    at the latest checkpoint, `episodes` games each (a multi-agent game: a row, and a score, per agent)."""
    step = checkpoints.latest_step(run_dir)
    rows = episodes * (len(config.spec.agents) or 1)
    parts = assemble(config, [seed] * len(members), envs_per_member=rows, evaluation=True)
    try:
        agent_state = restore_agents(parts, population, run_dir, step, members)
        scores = play(parts.agent, agent_state, parts.env, len(members), seed, stochastic)
    finally:
        parts.env.close()
    return step, parts, agent_state, scores


def evaluate(
    config: RunConfig,
    run_dir: Path,
    episodes: int,
    seed: int,
    stochastic: bool,
    runs: list[str] | None,
    video: bool = False,
) -> dict:
    """Plays the latest checkpoint of `run_dir` (whose config.json is `config`); writes and
    returns eval.json: per member, every episode's return and length. `video`: one more game per
    member, drawn as its backend says (`record`), into <run dir>/eval-<member>.mp4."""
    population = population_of(get_algorithm(config.algo), config)
    members = chosen_members(population, runs, run_dir)
    refusal = video_refusal(config.env, config.backend, config.env_instance) if video else None
    if refusal:
        raise ConfigError(f"--video: {refusal}")
    step, parts, agent_state, scores = played(config, run_dir, population, members, episodes, seed, stochastic)
    names = [population.names[member] for member in members]
    videos = {}
    if video:
        for index, name in enumerate(names):
            member_state = jax.tree.map(lambda x: x[index], agent_state)  # noqa: B023 (used at once)
            frames, fps, score = record(parts.agent, member_state, config, seed, stochastic)
            videos[name] = {"path": str(write_video(frames, fps, Path(run_dir) / f"eval-{name}")), "return": score}
    result = {
        "run_dir": str(run_dir),
        "algo": config.algo,
        "env": config.env,
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


class Policy:
    """One member's policy from a checkpoint: a NumPy batch of observations [B, *obs_shape] in,
    NumPy actions [B] (Box: [B, A], inside the bounds) out (one observation: one action). Greedy
    unless `stochastic`, when it samples as in training with its own key sequence. A multi-agent
    run's batch is a game's agents, [A, *obs_shape] in agent order -> actions [A]; `action_mask`
    (bool [B, num_actions]) keeps the choice to the legal actions (SMAX's available actions).

    A recurrent policy keeps its carry between calls, one per row of the batch: `first` (a bool,
    or [B] bools) marks the observations that start an episode, where it is reset. The first call,
    and a call with another batch size, start from a fresh carry."""

    def __init__(self, agent: Agent, state, spec: EnvSpec, stochastic: bool, seed: int):
        self.agent, self.state, self.obs_shape = agent, state, spec.obs_shape
        self.act = jax.jit(acting_fn(agent, stochastic, spec))
        self.key = jax.random.PRNGKey(seed)
        self.carry, self.batch = initial_carry(agent, 0), 0  # the carry of `batch` rows

    def __call__(self, observations, first=False, action_mask=None) -> np.ndarray:
        obs = np.asarray(observations)
        single = obs.shape == self.obs_shape
        if not single and obs.shape[1:] != self.obs_shape:
            raise ValueError(f"observations of shape {obs.shape}: expected [B, {', '.join(map(str, self.obs_shape))}]")
        obs = obs[None] if single else obs
        starts = np.broadcast_to(np.asarray(first, bool), obs.shape[:1])  # a [B] not of B rows fails here
        if len(obs) != self.batch:
            self.carry, self.batch = initial_carry(self.agent, len(obs)), len(obs)
        self.key, key = jax.random.split(self.key)
        info = (
            ()
            if action_mask is None
            else {"action_mask": jnp.asarray(np.asarray(action_mask, bool).reshape(len(obs), -1))}
        )
        actions, self.carry = self.act(self.state, self.carry, jnp.asarray(obs), jnp.asarray(starts), key, info)
        actions = np.asarray(actions)
        return actions[0] if single else actions


class Member(NamedTuple):
    """One member restored from a run's latest checkpoint (what `load` and `export` act with)."""

    agent: Agent
    state: object  # its agent state without the population axis, read without the replay
    spec: EnvSpec
    name: str  # its TensorBoard run name, e.g. "s0"
    index: int
    step: int  # the checkpoint's env step


def member_index(population: Population, member: int | str, run_dir: Path) -> int:
    """The index of `member` (an index, or a name such as "s3"); one line if there is none."""
    if isinstance(member, str):
        return chosen_members(population, [member], run_dir)[0]
    if isinstance(member, int) and not isinstance(member, bool) and 0 <= member < len(population.names):
        return member
    raise ConfigError(
        f"member {member!r}: {run_dir} has members 0..{len(population.names) - 1} ({', '.join(population.names)})"
    )


def restore_member(config: RunConfig, run_dir: Path, member: int | str, seed: int = 0) -> Member:
    """`member` (an index, or a name such as "s3") at the run's latest checkpoint."""
    population = population_of(get_algorithm(config.algo), config)
    index = member_index(population, member, run_dir)
    step = checkpoints.latest_step(run_dir)
    # the env tells the spec: one env, or one game of a multi-agent env (a row per agent)
    parts = assemble(config, [seed], envs_per_member=len(config.spec.agents) or 1, evaluation=True)
    parts.env.close()
    state = jax.tree.map(lambda x: x[0], restore_agents(parts, population, run_dir, step, [index]))
    return Member(parts.agent, state, parts.env.spec, population.names[index], index, step)


def load_policy(config: RunConfig, run_dir: Path, member: int | str, stochastic: bool, seed: int) -> Policy:
    """The policy of `member` (an index, or a name such as "s3") at the run's latest checkpoint."""
    restored = restore_member(config, run_dir, member, seed)
    return Policy(restored.agent, restored.state, restored.spec, stochastic, seed)
