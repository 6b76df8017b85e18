"""What an env backend is, and the registry that resolves ids over the backends in priority order.

A backend is a NamedTuple of functions (below). jaxrl registers EnvPool, gymnax and gymnasium;
`jaxrl.envs.register(name, backend)` adds another from outside the package, and every id, spec,
pool, action space and video then goes through the same loop, so the loop, the evaluator and
the presets need no edit. A backend that raises anything but UnknownEnvError is reported in one
line naming it, before anything compiles.
"""

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from jaxrl.core.types import Env, EnvSpec
from jaxrl.envs.ids import ALIASES, UnknownEnvError
from jaxrl.errors import did_you_mean

# How a backend's games are drawn for videos (`Backend.renderer`): a gymnasium env of the same id
# renders RGB frames, the pool's image observations [H, W, C] are drawn as pictures, or the pool
# draws its first game from its handle (`Env.draw`: JaxMARL's MPE and SMAX).
GYMNASIUM_FRAMES = "gymnasium"
OBSERVATION_PICTURES = "observations"
POOL_DRAWINGS = "pool"


class Backend(NamedTuple):
    """One env library. `instance` is a Python env object passed to `jaxrl.train` (gymnax's
    (env, params)); backends that take none ignore it. Every function may raise UnknownEnvError
    with a one-line reason."""

    name: str
    knows: Callable[
        [str], bool
    ]  # (env_id) -> whether it steps this id; raises if it has it but jaxrl cannot train on it
    candidates: Callable[[], Iterable[str]]  # () -> ids it knows, for "did you mean"
    spec: Callable[..., EnvSpec]  # (env_id, *, instance=None, **options) -> EnvSpec, without making a pool
    # (env_id, seeds, *, instance=None, groups=1, threads=0, **options) -> Env: one env per seed
    make: Callable[..., Env]
    action_space: Callable[[str, Any], str]  # (env_id, instance) -> "Discrete(2)", "Box(-1.0, 1.0, (6,), float32)"
    # (env_id, instance) -> GYMNASIUM_FRAMES, OBSERVATION_PICTURES or POOL_DRAWINGS; raises (one line) where it cannot draw
    renderer: Callable[[str, Any], str]
    family: Callable[[str], str]  # (env_id) -> the preset table it takes defaults from: "atari", "classic", ...
    # (env_id) -> why only this backend can step the id ("a factory's env is a JAX env"), or None
    claims: Callable[[str], str | None] = lambda env_id: None


def cannot_draw(reason: str) -> Callable[[str, Any], str]:
    """A renderer for a backend that draws nothing: every video is refused with `reason`."""

    def renderer(env_id: str, instance: Any = None) -> str:
        raise UnknownEnvError(f"cannot draw {env_id}: {reason}")

    return renderer


REGISTRY: list[tuple[float, Backend]] = []  # (priority, backend), lowest priority first


def register(name: str, backend: Backend, priority: float | None = None) -> None:
    """Adds (or replaces) a backend under `name`. Ids are offered to backends by ascending
    `priority` (EnvPool 0, gymnax 10, gymnasium 20); default: after every registered one."""
    if not isinstance(backend, Backend):
        raise TypeError(f"register({name!r}, ...): a backend is a jaxrl.envs.Backend, not {type(backend).__name__}")
    unregister(name)
    if priority is None:
        priority = max((rank for rank, _ in REGISTRY), default=0) + 10
    REGISTRY.append((priority, backend._replace(name=name)))
    REGISTRY.sort(key=lambda entry: entry[0])


def unregister(name: str) -> None:
    REGISTRY[:] = [(rank, backend) for rank, backend in REGISTRY if backend.name != name]


def names() -> list[str]:
    return sorted(backend.name for _, backend in REGISTRY)


def backend_named(name: str) -> Backend:
    """The registered backend `name`, or one line listing those there are."""
    for _, backend in REGISTRY:
        if backend.name == name:
            return backend
    raise UnknownEnvError(f"unknown backend '{name}': choose one of {', '.join(names())}{did_you_mean(name, names())}")


def ask(backend: Backend, what: str, *args, **kwargs):
    """`backend.<what>(*args)`, with anything it raises but UnknownEnvError turned into one line
    naming the backend: a user's backend fails before compiling, and says so."""
    try:
        return getattr(backend, what)(*args, **kwargs)
    except UnknownEnvError:
        raise
    except Exception as error:  # the backend's own code: its failure, in one line
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise UnknownEnvError(
            f"env backend '{backend.name}' failed in {what}: {type(error).__name__}: {reason}"
        ) from None


def resolve(name: str, requested: str | None = None) -> tuple[str, str]:
    """(env id, backend name): the first backend by priority that knows the id (or `requested`);
    an id that one backend claims (a `module:factory`) goes to it alone. One line otherwise."""
    chosen = [backend_named(requested)] if requested is not None else [backend for _, backend in REGISTRY]
    env_id = ALIASES.get(name, name)
    for _, backend in REGISTRY:
        reason = ask(backend, "claims", env_id)
        if reason is None:
            continue
        if requested not in (None, backend.name):
            raise UnknownEnvError(f"--env {env_id}: {reason}: use --backend {backend.name}")
        chosen = [backend]
        break
    for backend in chosen:
        if ask(backend, "knows", env_id):
            return env_id, backend.name
    candidates = [] if requested else list(ALIASES)
    for backend in chosen:
        candidates += ask(backend, "candidates")
    where = f" in {requested}" if requested else ""
    raise UnknownEnvError(f"unknown env '{name}'{where}{did_you_mean(name, candidates)}")
