"""Run directories: <logdir>/<env>/<algo>/<name>/, never overwritten."""

from pathlib import Path

from jaxrl.config import RunConfig
from jaxrl.errors import ConfigError
from jaxrl.logs.files import write_json
from jaxrl.training.distributed import Peers


def new_run_dir(logdir: str, env_id: str, algo: str, name: str) -> Path:
    """<logdir>/<env>/<algo>/<name>, with -2, -3, ... appended rather than reuse an existing one."""
    base = Path(logdir) / env_id / algo
    run_dir, suffix = base / name, 2
    while run_dir.exists():
        run_dir, suffix = base / f"{name}-{suffix}", suffix + 1
    run_dir.mkdir(parents=True)
    return run_dir


def open_run_dir(config: RunConfig, peers: Peers) -> Path:
    """A new run dir with config.json; with several processes, process 0 makes it (all of them
    must see the same one, so it is never renamed: an existing one is an error)."""
    if peers.count == 1:
        run_dir = new_run_dir(config.logdir, config.env, config.algo, config.name)
    else:
        run_dir = Path(config.logdir) / config.env / config.algo / config.name
        if run_dir.exists():
            raise ConfigError(f"--distributed: {run_dir} exists; name the run afresh with --name")
        peers.barrier("run dir checked")  # before process 0 makes it
        if peers.index == 0:
            run_dir.mkdir(parents=True)
    if peers.index == 0:
        write_json(run_dir / "config.json", config.to_json())
    peers.barrier("run dir made")
    return run_dir
