"""JaxMARL backend: multi-agent envs written in JAX, with the agents folded into the env axis.

A pool of E games of A agents is E x A rows, game-major (row e * A + a is agent a of game e), so
every algorithm trains one network shared by all agents without knowing about agents (JaxMARL's
IPPO does the same). Observations are padded with zeros to the longest agent's, Discrete action
counts to the largest agent's; `Step.info["action_mask"]` [E x A, num_actions] marks what each
agent may do (the env's own available actions where it has them, e.g. SMAX, and never a padded
action). With `agent_ids`, each row's observation ends with a one-hot of its agent. With
`world_state` (MAPPO's centralised critic), `Step.info["world_state"]` [E x A, W] gives each row its
game's world state followed by a one-hot of its agent (`world_states`).

JaxMARL's API: `reset(key) -> (obs, state)`, `step(key, state, actions) -> (obs, state, rewards,
dones, infos)`, each a dict by agent name, `dones["__all__"]` the end of the game; the step that
ends a game returns the next game's first obs (it resets inside the step), so every end is a
termination here, as in JaxMARL's baselines (its time limits come without a final obs).

Ids: any `jaxmarl.make` id (`MPE_simple_spread_v3`, ...) and SMAX scenarios as `SMAX-<map>`
(`SMAX-3m`, `SMAX-2s3z`: the heuristic enemy, with JaxMARL's baselines' settings). `--num-envs`
counts rows (JaxMARL's "actors"): a multiple of the agent count (48 = 16 games of 3 agents).

Videos (`jaxrl eval --video`, `--capture-video`): the pool draws its first game from its state
(`Env.draw`, `draw_game`), MPE's and SMAX's; other JaxMARL games are refused in one line.
"""

import contextlib
import importlib.util
import os
import sys
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.core.types import Env, EnvSpec, Step
from jaxrl.envs.base import POOL_DRAWINGS, Backend
from jaxrl.envs.gymnax import seeded_keys, split_keys
from jaxrl.envs.ids import UnknownEnvError
from jaxrl.envs.pictures import discs

SMAX_PREFIX = "SMAX-"
# JaxMARL's SMAX baselines (ippo_rnn_smax, mappo_homogenous_rnn_smax) train against this enemy.
SMAX_SETTINGS = dict(see_enemy_actions=True, walls_cause_death=True, attack_mode="closest")
# An ally's return in a SMAX game it wins: every enemy's health (its reward sums the enemies' lost
# health, normalised to 1.0 in all) and the win bonus, 1.0; a draw returns 1.0, a loss less. Above
# this is a win: JaxMARL's baselines count a win where the last reward is at least the bonus.
SMAX_WIN_RETURN = 1.5
MPE_BOUNDS = (-2.0, 2.0, -2.0, 2.0)  # the window of JaxMARL's MPEVisualizer
# Allies blue, enemies green, as JaxMARL's SMAX renderer draws them.
SMAX_COLOURS = np.array([[31, 119, 180], [44, 160, 44]], np.uint8)


class Handle(NamedTuple):
    state: Any  # the games' states, leaves [E, ...]
    key: jax.Array  # [E, 2] uint32, each game's own key


class Layout(NamedTuple):
    """How a game's agents fill its rows: names in row order, each agent's observation and
    action sizes, and the padded sizes every row has."""

    agents: tuple[str, ...]
    obs_sizes: tuple[int, ...]
    action_counts: tuple[int, ...]
    obs_size: int  # padded, before any agent id
    num_actions: int  # padded
    agent_ids: bool

    @property
    def row_obs_size(self) -> int:
        return self.obs_size + len(self.agents) * self.agent_ids


def installed() -> bool:
    return importlib.util.find_spec("jaxmarl") is not None


def jaxmarl():
    if not installed():
        raise UnknownEnvError("multi-agent envs need JaxMARL: pip install 'jaxrl[marl]'")
    with quiet_stdout():  # lazy: an optional extra, and its import costs seconds
        import jaxmarl as module

    return module


@contextlib.contextmanager
def quiet_stdout():
    """Drops what is printed meanwhile: JaxMARL's import prints two lines ("Importing submoduled
    environments...") that would break jaxrl's one-line errors. At the file descriptor, since
    its MABrax import sets sys.stdout and sys.stderr to the process's own (which would also undo
    a caller's redirection, pytest's capture included): both are put back after."""
    streams = sys.stdout, sys.stderr
    for stream in (sys.stdout, sys.__stdout__):
        if stream is not None:
            stream.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
            for stream in (sys.stdout, sys.__stdout__):
                if stream is not None:
                    stream.flush()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        sys.stdout, sys.stderr = streams


def registered(env_id: str) -> bool:
    """Whether JaxMARL knows the id (without importing it for ids it cannot have)."""
    if env_id.startswith(SMAX_PREFIX):
        return installed()
    if not installed():
        return False
    jaxmarl()  # imported quietly first
    from jaxmarl.registration import registered_envs  # lazy: optional, slow to import

    return env_id in registered_envs


def candidates() -> list[str]:
    """Ids to suggest for a misspelt one."""
    if not installed():
        return []
    jaxmarl()  # imported quietly first
    from jaxmarl.registration import registered_envs  # lazy: optional, slow to import

    return list(registered_envs)


def named(env_id: str):
    """The JaxMARL env of an id, or one line saying why not."""
    module = jaxmarl()
    try:
        if env_id.startswith(SMAX_PREFIX):
            from jaxmarl.environments.smax import map_name_to_scenario  # lazy: optional

            scenario = map_name_to_scenario(env_id[len(SMAX_PREFIX) :])
            return module.make("HeuristicEnemySMAX", scenario=scenario, **SMAX_SETTINGS)
        return module.make(env_id)
    except Exception as error:  # JaxMARL's own refusal (an unknown map, a bad id), in one line
        raise UnknownEnvError(f"{env_id}: JaxMARL cannot make it: {type(error).__name__}: {error}") from None


def layout_of(env, env_id: str, agent_ids: bool = False) -> Layout:
    """The rows' layout, or one line saying why jaxrl cannot fold this env: observations that are
    not vectors, or actions that are not Discrete."""
    agents = tuple(env.agents)
    obs_sizes, action_counts = [], []
    for agent in agents:
        shape = tuple(env.observation_space(agent).shape)
        if len(shape) != 1:
            raise UnknownEnvError(f"{env_id}: agent {agent} observes shape {list(shape)}; folded agents need vectors")
        space = env.action_space(agent)
        if not isinstance(getattr(space, "n", None), int | np.integer):
            raise UnknownEnvError(
                f"{env_id}: agent {agent} acts in a {type(space).__name__}; multi-agent training takes Discrete actions"
            )
        obs_sizes.append(shape[0])
        action_counts.append(int(space.n))
    return Layout(agents, tuple(obs_sizes), tuple(action_counts), max(obs_sizes), max(action_counts), agent_ids)


def spec_of(layout: Layout, env_id: str, world_state_size: int = 0) -> EnvSpec:
    return EnvSpec(
        env_id,
        (layout.row_obs_size,),
        "float32",
        layout.num_actions,
        agents=layout.agents,
        action_masks=True,
        world_state_size=world_state_size,
        win_return=SMAX_WIN_RETURN if env_id.startswith(SMAX_PREFIX) else None,
    )


def spec(env_id: str, instance: Any = None, agent_ids: bool = False, **_) -> EnvSpec:
    return spec_of_env(named(env_id), env_id, agent_ids)


def spec_of_env(env, env_id: str, agent_ids: bool = False) -> EnvSpec:
    """The spec of a JaxMARL-API env object's rows (a game of one's own, registered as a backend)."""
    layout = layout_of(env, env_id, agent_ids)
    return spec_of(layout, env_id, world_state_size(env, layout))


def action_space(env_id: str, instance: Any = None) -> str:
    return f"Discrete({spec(env_id).num_actions})"


def knows(env_id: str) -> bool:
    """A JaxMARL id jaxrl can fold (raises, with the reason, for one it cannot)."""
    if not registered(env_id):
        return False
    layout_of(named(env_id), env_id)
    return True


def rows(layout: Layout, by_agent: dict, pad_to: int) -> jax.Array:
    """A dict of per-agent arrays [E, n_agent] as rows [E x A, pad_to], zero-padded."""
    padded = [jnp.pad(by_agent[name], ((0, 0), (0, pad_to - by_agent[name].shape[-1]))) for name in layout.agents]
    return jnp.stack(padded, axis=1).reshape(-1, pad_to)


def observations(layout: Layout, obs: dict) -> jax.Array:
    """Rows [E x A, row_obs_size] float32 of the agents' observations [E, n_agent]."""
    folded = rows(layout, {name: obs[name].astype(jnp.float32) for name in layout.agents}, layout.obs_size)
    if not layout.agent_ids:
        return folded
    games = folded.shape[0] // len(layout.agents)
    ids = jnp.tile(jnp.eye(len(layout.agents), dtype=jnp.float32), (games, 1))
    return jnp.concatenate([folded, ids], axis=1)


def says_available_actions(env) -> bool:
    """Whether the env overrides JaxMARL's get_avail_actions (the base class's raises
    NotImplementedError: MPE's games have every action always)."""
    from jaxmarl.environments.multi_agent_env import MultiAgentEnv  # lazy: optional, slow to import

    return type(env).get_avail_actions is not MultiAgentEnv.get_avail_actions


def action_masks(layout: Layout, env, state) -> jax.Array:
    """bool [E x A, num_actions]: the env's available actions (all where it does not say), never
    a padded action."""
    games = jax.tree.leaves(state)[0].shape[0]
    if says_available_actions(env):
        available = jax.vmap(env.get_avail_actions)(state)
    else:
        available = {
            name: jnp.ones((games, n), bool) for name, n in zip(layout.agents, layout.action_counts, strict=True)
        }
    return rows(layout, {name: available[name].astype(bool) for name in layout.agents}, layout.num_actions)


def game_state(env, layout: Layout, state) -> jax.Array:
    """One game's world state [W]: the env's own where it has one (SMAX's `get_world_state`: every
    unit's health, position, cooldown and type, as JaxMARL's MAPPO reads it), else every agent's
    observation, concatenated in agent order (JaxMARL's MPEWorldStateWrapper in mappo_rnn_mpe)."""
    if hasattr(env, "get_world_state"):
        return env.get_world_state(state).astype(jnp.float32)
    obs = env.get_obs(state)
    return jnp.concatenate([obs[name].astype(jnp.float32) for name in layout.agents])


def world_state_size(env, layout: Layout) -> int:
    """W + A: a game's world state and the agent one-hot that every row's ends with."""
    state = jax.eval_shape(env.reset, jax.random.PRNGKey(0))[1]
    return jax.eval_shape(lambda state: game_state(env, layout, state), state).shape[0] + len(layout.agents)


def world_states(env, layout: Layout, state) -> jax.Array:
    """Rows [E x A, W + A]: each row's game's world state (the same for a game's agents), then a
    one-hot of the row's agent, so a critic shared by the agents knows whose value it gives (as
    JaxMARL's SMAXWorldStateWrapper with obs_with_agent_id)."""
    num_agents = len(layout.agents)
    games = jax.vmap(lambda state: game_state(env, layout, state))(state)  # [E, W]
    ids = jnp.tile(jnp.eye(num_agents, dtype=jnp.float32), (games.shape[0], 1))
    return jnp.concatenate([jnp.repeat(games, num_agents, axis=0), ids], axis=1)


def per_agent(layout: Layout, values: dict) -> jax.Array:
    """Per-agent scalars by name, [E] each, as rows [E x A]."""
    return jnp.stack([values[name] for name in layout.agents], axis=1).reshape(-1)


def make(env_id: str, seeds: list[int], *, agent_ids: bool = False, world_state: bool = False, **_) -> Env:
    """A pool of len(seeds) rows, len(seeds) / A games; game e's keys come from seeds[e * A];
    `world_state`: each row's world state in Step.info (for a centralised critic)."""
    return pool_of(named(env_id), env_id, seeds, agent_ids, world_state)


def pool_of(env, env_id: str, seeds: list[int], agent_ids: bool = False, world_state: bool = False) -> Env:
    """`make`'s pool of a JaxMARL-API env object (a game of one's own, registered as a backend)."""
    layout = layout_of(env, env_id, agent_ids)
    num_agents = len(layout.agents)
    if len(seeds) % num_agents:
        raise UnknownEnvError(
            f"--num-envs {len(seeds)} does not split into {env_id}'s {num_agents} agents: "
            f"use a multiple of {num_agents} (rows = games x agents)"
        )
    seeds = seeds[::num_agents]
    reset_games = jax.vmap(env.reset)
    step_games = jax.vmap(env.step)

    @jax.jit
    def first(seeds):
        keys, reset_keys = seeded_keys(seeds)
        obs, state = reset_games(reset_keys)
        return Handle(state, keys), observations(layout, obs)

    def reset():
        return first(jnp.asarray(seeds, jnp.int32))

    def step(handle: Handle, action: jax.Array):
        keys, step_keys = split_keys(handle.key)
        by_game = action.astype(jnp.int32).reshape(-1, num_agents)
        actions = {name: by_game[:, index] for index, name in enumerate(layout.agents)}
        obs, state, rewards, dones, _ = step_games(step_keys, handle.state, actions)
        reward = per_agent(layout, rewards).astype(jnp.float32)
        over = jnp.repeat(dones["__all__"].astype(bool), num_agents)
        no = jnp.zeros_like(over)
        handle = Handle(state, keys)
        return handle, Step(observations(layout, obs), reward, over, no, reward, over, reset_next=no, info=info(handle))

    def info(handle: Handle) -> dict:  # what the agents may do next: the state after the step (or reset)
        masks = {"action_mask": action_masks(layout, env, handle.state)}
        return masks | ({"world_state": world_states(env, layout, handle.state)} if world_state else {})

    return Env(spec=spec_of_env(env, env_id, agent_ids), num_envs=len(seeds) * num_agents, reset=reset, step=step,
               close=lambda: None, jax_native=True, first_info=jax.jit(info),
               draw=lambda handle: draw_game(env, handle.state))  # fmt: skip


def draw_game(env, state) -> np.ndarray:
    """The pool's first game as a frame [256, 256, 3] uint8, drawn from its state with NumPy:
    JaxMARL's own renderers are matplotlib figures, SMAX's ~0.4 s for each of a step's 8 world
    frames where this takes ~1 ms a step (`experiments/marl_frames.py`). MPE: every entity in its own colour and size;
    SMAX: the living units, in their team's colour fading to white as they lose health."""
    game = jax.tree.map(lambda x: np.asarray(x[0]), state)
    while not hasattr(game, "unit_positions") and hasattr(game, "state"):  # SMAX under its enemy's wrapper
        game = game.state
    if hasattr(game, "p_pos"):
        return discs(game.p_pos, np.asarray(env.rad), np.asarray(env.colour, np.uint8), MPE_BOUNDS)
    if not hasattr(game, "unit_positions"):
        raise UnknownEnvError(f"cannot draw a {type(env).__name__}: jaxrl draws JaxMARL's MPE and SMAX games")
    alive = game.unit_alive.astype(bool)
    health = game.unit_health / np.asarray(env.unit_type_health)[game.unit_types]
    team = SMAX_COLOURS[(np.arange(alive.size) >= env.num_allies).astype(int)].astype(np.float32)
    colours = (255 - (255 - team) * (0.25 + 0.75 * health[:, None])).astype(np.uint8)
    radii = np.asarray(env.unit_type_radiuses)[game.unit_types]
    bounds = (0.0, float(env.map_width), 0.0, float(env.map_height))
    return discs(game.unit_positions[alive], radii[alive], colours[alive], bounds)


def renderer(env_id: str, instance: Any = None) -> str:
    """MPE and SMAX games are drawn from the pool's state (`draw_game`); other games are refused."""
    if family(env_id) == "marl":
        raise UnknownEnvError(f"cannot draw {env_id}: jaxrl draws JaxMARL's MPE and SMAX games only")
    return POOL_DRAWINGS


def family(env_id: str) -> str:
    """The preset table: "smax" or "mpe" (JaxMARL's baselines' settings), else "marl"."""
    if env_id.startswith(SMAX_PREFIX):
        return "smax"
    return "mpe" if env_id.startswith("MPE_") else "marl"


BACKEND = Backend(
    name="jaxmarl",
    knows=knows,
    candidates=candidates,
    spec=spec,
    make=make,
    action_space=action_space,
    renderer=renderer,
    family=family,
)
