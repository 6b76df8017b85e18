"""The data that crosses the core's boundaries: what an env reports, what a rollout holds, and
the pure functions an algorithm hands the loop."""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class EnvSpec(NamedTuple):
    env_id: str
    obs_shape: tuple[int, ...]
    obs_dtype: str  # numpy dtype name: "float32" for CartPole, "uint8" for Atari frames
    num_actions: int  # Discrete: the number of actions; Box: the size of an action vector
    # Observations are stacks of this many frames on their first axis ([4, 84, 84] for Atari),
    # consecutive steps sharing all but one: the replay stores one frame per step. 1: no stack.
    frame_stack: int = 1
    # Box action spaces: the shape of one action ((A,)) and its bounds, one per component;
    # Discrete: all empty.
    action_shape: tuple[int, ...] = ()
    action_low: tuple[float, ...] = ()
    action_high: tuple[float, ...] = ()
    # Multi-agent envs folded into rows (JaxMARL's): a game's agent names in row order, each game
    # len(agents) consecutive rows; empty: single-agent, one row per env.
    agents: tuple[str, ...] = ()
    # Discrete: the env reports each obs's legal actions (`Step.info["action_mask"]`), so a replay
    # keeps them for its bootstraps.
    action_masks: bool = False
    # Multi-agent envs: the size of the world state a centralised critic reads per row
    # (`Step.info["world_state"]`, given where the env is made with world_state=True); 0: none.
    world_state_size: int = 0
    # Episodes whose return exceeds this are wins, counted per iteration (SMAX: all enemy health,
    # 1.0, plus the win bonus, 1.0; a draw or a loss returns at most 1.0); None: no wins counted.
    win_return: float | None = None

    @property
    def continuous(self) -> bool:
        """A Box action space: actions are float32 vectors [A]; else int32 indices."""
        return bool(self.action_shape)

    def clip_action(self, action: jax.Array) -> jax.Array:
        """Actions [..., A] clipped to the bounds (what the env is given); Discrete ones as they are."""
        if not self.continuous:
            return action
        return jnp.clip(action, jnp.asarray(self.action_low, jnp.float32), jnp.asarray(self.action_high, jnp.float32))


class Step(NamedTuple):
    """What one step of a pool returns, every field with a leading env axis [N]."""

    obs: jax.Array  # next observation; the terminal one on a done step
    reward: jax.Array  # float32, the training reward (clipped for Atari by default)
    terminated: jax.Array  # bool, no bootstrap (a life loss with episodic life)
    truncated: jax.Array  # bool, time limit: bootstrap from obs
    game_reward: jax.Array  # float32, unclipped reward, for the reported episode return
    game_over: jax.Array  # bool, the whole game ended (all lives, or truncation)
    # bool, the env's next step is a reset step (its action ignored; not a transition). None:
    # after every done, EnvPool's rule. A JAX env resets inside the step that ends an episode
    # and needs a reset step only after a truncation, to show the final obs first (bootstrapping).
    reset_next: jax.Array | None = None
    # What the env offers beside obs, for the agent's `act` (an action mask [N, A], a global
    # state): a pytree of arrays [N, ...], the same structure every step. () by default: no
    # arrays, so it costs nothing.
    info: Any = ()
    # What an env reports about the episode a step ends, for logging ({tag: float32 [N]}, read
    # where game_over, e.g. Craftax's achievements): averaged over a chunk's ended episodes and
    # logged under the tag. () by default: nothing computed or stored.
    episode_info: Any = ()


class Env(NamedTuple):
    """A pool of N envs. `step` is jittable; the handle it threads is the pool's state as the
    compiled program sees it (EnvPool's pointer, a step counter for host envs, or a JAX env's
    whole state)."""

    spec: EnvSpec
    num_envs: int
    reset: Callable[[], tuple[object, jax.Array]]  # host: () -> (handle, obs [N, ...])
    step: Callable[[object, jax.Array], tuple[object, Step]]  # jittable: (handle, action [N] or [N, A])
    close: Callable[[], None]
    # The handle is the envs' whole state, a pytree of arrays [N, ...] (a JAX env): a chunk of
    # iterations runs as one program, and checkpoints keep the handle.
    jax_native: bool = False
    # Pipelined pools (EnvPool, `--env-groups` G > 1): the N envs are G pools of N/G, the env axis
    # group-major ([G, N/G]); each pool is sent its actions and received on its own, so the others
    # step while the device acts on one. The handle is then the tuple of the pools' handles, and
    # `step` sends to every pool, then receives from each.
    groups: int = 1
    send: Callable[[object, int, jax.Array], object] | None = None  # (handle, g, action [N/G]) -> handle
    recv: Callable[[object, int], tuple[object, Step]] | None = None  # (handle, g) -> (handle, Step [N/G])
    # (handle just reset) -> the info of the reset's observations, as `Step.info`; None: no info.
    first_info: Callable[[object], Any] | None = None
    # (handle) -> the first game as a colour frame [H, W, 3] uint8, on the host; None: not drawn.
    draw: Callable[[object], Any] | None = None


class Trajectory(NamedTuple):
    """One rollout of one member: T steps of E envs."""

    obs: jax.Array  # [T, E, *obs_shape] (uint8 frames stay uint8)
    action: jax.Array  # [T, E] int32, or [T, E, A] float32 for Box (as sampled: the env got it clipped)
    reward: jax.Array  # [T, E] float32 training reward
    terminated: jax.Array  # [T, E] bool
    truncated: jax.Array  # [T, E] bool
    valid: jax.Array  # [T, E] bool; False on EnvPool's reset step (the step after done): never learn from it
    extras: dict  # [T, E] each, what `act` returned (log-prob, value, ...)
    last_obs: jax.Array  # [E, *obs_shape], the observation after the last step, for bootstrapping
    first: jax.Array | None = None  # [T, E] bool: obs starts an episode (the agent's carry was reset there)
    info: Any = ()  # [T, E, ...] each: the env's info for obs (`Step.info`), as `act` saw it
    carry: Any = ()  # [E, ...] each: the agent's carry before acting on obs[0]; () for feed-forward agents
    last_info: Any = ()  # [E, ...] each: the env's info for last_obs (its action mask, for bootstrapping)
    last_first: jax.Array | None = None  # [E] bool: last_obs starts an episode (a recurrent bootstrap resets there)


class Agent(NamedTuple):
    """ONE member's pure functions; the loop vmaps them over the population.

    `act` has the full contract where the agent has a carry (`initial_carry`): (state, carry,
    obs [E, ...], first [E], info, key) -> (action, carry, extras), the carry reset where `first`.
    A feed-forward agent's act is (state, obs [E, ...], key) -> (action, extras), or (state, obs,
    key, info) where the env reports info (an action mask); `full_act` gives it the full contract,
    so the loop calls every agent alike."""

    init: Callable[[jax.Array, Any], Any]  # (key, hyper) -> state
    act: Callable[..., tuple]
    learn: Callable[[Any, Trajectory, Any, jax.Array], tuple[Any, dict]]  # (state, traj, hyper, key)
    # (state, obs [E, ...]) -> [E, A]. Discrete: policy logits or Q-values, whose argmax is the
    # greedy action; Box: the deterministic action itself (a Gaussian's mean, SAC's tanh of it).
    # An agent with a carry: (state, carry, obs, first [E]) -> ([E, A], carry), as its act.
    preferences: Callable[[Any, jax.Array], jax.Array]
    # (state, obs [E, ...]) -> {name: [E, ...]}: what an exported policy gives beside its action
    # ("logits" or "q_values", a Gaussian's "mean" and "log_std", the critic's "value"); None:
    # the preferences alone, as "preferences".
    outputs: Callable[[Any, jax.Array], dict] | None = None
    # (E) -> the carry of E envs at an episode's start (leaves [E, ...]); None: feed-forward.
    initial_carry: Callable[[int], Any] | None = None


def initial_carry(agent: Agent, num_envs: int) -> Any:
    """The carry of `num_envs` envs at an episode's start: () for a feed-forward agent."""
    return () if agent.initial_carry is None else agent.initial_carry(num_envs)


def full_act(agent: Agent) -> Callable[..., tuple]:
    """The agent's act with the full contract, (state, carry, obs, first, info, key) -> (action,
    carry, extras): a feed-forward agent's act, with its empty carry passed through, or a
    recurrent agent's own. The one place feed-forward algorithms meet the wider contract."""
    if agent.initial_carry is not None:
        return agent.act

    def act(state, carry, obs, first, info, key):
        # info only where there is some: an env without it calls act exactly as it always did
        action, extras = agent.act(state, obs, key, info) if info else agent.act(state, obs, key)
        return action, carry, extras

    return act


def reset_env(env: Env) -> tuple[object, jax.Array, Any]:
    """(handle, obs [N, ...], info [N, ...] or ()): the pool reset, with its observations' info."""
    handle, obs = env.reset()
    return handle, obs, env.first_info(handle) if env.first_info else ()


def join_steps(steps: list[Step]) -> Step:
    """The Steps of consecutive groups of envs as one, along the env axis."""
    return jax.tree.map(lambda *parts: jnp.concatenate(parts), *steps)


def flatten_steps(batch):
    """Every [T, E, ...] leaf as [T*E, ...]: a rollout's steps as one batch of samples."""
    return jax.tree.map(lambda x: x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]), batch)
