"""Run directories: <logdir>/<env>/<algo>/<name>/, never overwritten."""

import itertools
import tempfile
from pathlib import Path

from jaxrl.config import RunConfig
from jaxrl.errors import ConfigError
from jaxrl.logs.files import write_json
from jaxrl.training.distributed import Peers


def staged(base: Path, name: str, config: dict) -> Path:
    """A hidden folder beside the run dir-to-be, holding config.json: renamed into place whole,
    so a run dir never exists without its config (a kill at any moment leaves a run dir that can
    be resumed, or none)."""
    base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=STAGING, dir=base))
    write_json(folder / "config.json", config)
    return folder


STAGING = ".staging"  # `jaxrl compare` skips hidden folders, which a kill may leave here


def new_run_dir(logdir: str, env_id: str, algo: str, name: str, config: dict) -> Path:
    """<logdir>/<env>/<algo>/<name> with config.json in it, -2, -3, ... appended rather than reuse
    an existing one."""
    base = Path(logdir) / env_id / algo
    folder = staged(base, name, config)
    for suffix in itertools.count(1):
        run_dir = base / (name if suffix == 1 else f"{name}-{suffix}")
        if not run_dir.exists():
            try:
                folder.rename(run_dir)  # atomic
                return run_dir
            except OSError:
                if not run_dir.exists():  # anything but another process taking the name meanwhile
                    raise


def open_run_dir(config: RunConfig, peers: Peers) -> Path:
    """A new run dir with config.json; with several processes, process 0 makes it (all of them
    must see the same one, so it is never renamed: an existing one is an error)."""
    if peers.count == 1:
        return new_run_dir(config.logdir, config.env, config.algo, config.name, config.to_json())
    run_dir = Path(config.logdir) / config.env / config.algo / config.name
    if run_dir.exists():
        raise ConfigError(f"--distributed: {run_dir} exists; name the run afresh with --name")
    peers.barrier("run dir checked")  # before process 0 makes it
    if peers.index == 0:
        staged(run_dir.parent, run_dir.name, config.to_json()).rename(run_dir)
    peers.barrier("run dir made")
    return run_dir
