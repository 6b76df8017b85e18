"""The Weights & Biases sink (`--track True`, `pip install 'jaxrl[wandb]'`): one W&B run per
population member, grouped by the jaxrl run, with the same scalars, config and final hparams as
TensorBoard, each member's x-axis its own env steps (`env_step`). WANDB_MODE=offline works
without a network (`wandb sync` uploads later)."""

import importlib
import re

import numpy as np

from jaxrl.errors import ConfigError
from jaxrl.logs.base import RunInfo, member_scalars, steps_per_second
from jaxrl.logs.video import gif_bytes


def wandb_module():
    """wandb, imported when a run tracks (~0.5 s of imports, and an optional dependency)."""
    try:
        return importlib.import_module("wandb")
    except ImportError:
        raise ConfigError("--track True needs Weights & Biases: pip install 'jaxrl[wandb]'") from None


class WandB:
    def __init__(self, project: str, entity: str | None = None):
        self.wandb = wandb_module()  # a missing install fails here, before anything is built
        self.project, self.entity = project, entity
        self.runs: list = []
        self.names: list[str] = []

    def open(self, run: RunInfo) -> None:
        wandb = self.wandb
        self.videos, self.names = run.run_dir / "videos", list(run.names)
        group = f"{run.config['env']}/{run.config['algo']}/{run.run_dir.name}"
        for name in run.names:
            # one id per member and jaxrl run: a resumed run continues the same W&B runs
            member_id = re.sub(r"[^A-Za-z0-9_-]", "-", f"{run.config['algo']}-{run.run_dir.name}-{name}")
            member = wandb.init(
                project=self.project,
                entity=self.entity,
                group=group,
                name=f"{run.run_dir.name}/{name}",
                id=member_id,
                resume="allow",
                dir=str(run.run_dir),
                config={**run.config, "member": name},
                reinit="create_new",
            )
            member.define_metric("env_step")
            member.define_metric("*", step_metric="env_step")
            self.runs.append(member)

    def log_chunk(self, metrics: dict, elapsed_s: float) -> None:
        for member, run in enumerate(self.runs):
            for step, scalars in member_scalars(metrics, member):
                run.log({"env_step": step, **scalars})
            last_step, sps = steps_per_second(metrics, member, elapsed_s)
            run.log({"env_step": last_step, "charts/SPS": sps})

    def log_hparams(self, member_hparams: list[dict], final_returns: np.ndarray, step: int) -> None:
        for run, values, final in zip(self.runs, member_hparams, final_returns, strict=True):
            run.config.update({"hparams": values}, allow_val_change=True)
            if np.isfinite(final):
                run.log({"env_step": step, "hparams/final_return": float(final)})
                run.summary["hparams/final_return"] = float(final)

    def log_video(self, member: int, frames: np.ndarray, fps: float, step: int) -> None:
        # a GIF file: wandb.Video encodes raw frames only with moviepy installed
        self.videos.mkdir(exist_ok=True)
        path = self.videos / f"{self.names[member]}-step{step}.gif"
        path.write_bytes(gif_bytes(frames, fps))
        self.runs[member].log({"env_step": step, "eval/video": self.wandb.Video(str(path))})

    def note(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass  # W&B writes its own log of every call; a checkpoint does not wait for the upload

    def close(self) -> None:
        for run in self.runs:
            run.finish()
        self.runs = []
