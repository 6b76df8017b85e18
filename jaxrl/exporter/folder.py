"""`jaxrl export RUN_DIR`: one member's greedy policy as a policy folder that runs without JAX.

    policy.onnx          observations [batch, *obs_shape] in; the action (and logits / Q-values /
                         mean and log-std / value) out; observation normalisation baked in
    policy.json          what the file expects and what it came from: env, spaces, algorithm,
                         hyperparameters, the command that retrains it, its returns
    README.md            a model card; learning_curve.png beside it

Frame stacking stays the caller's: an Atari policy takes the stack of the last 4 preprocessed
frames that EnvPool gives (gymnasium's AtariPreprocessing + FrameStackObservation(4) make it).
`onnx` and `onnxruntime` are the `export` extra, imported only here and only when used.
"""

import dataclasses
import importlib.metadata
import importlib.util
import json
import shutil
import time
from pathlib import Path

import jax
import numpy as np

from jaxrl.algos import get_algorithm
from jaxrl.analysis.compare import Group, plot_learning_curves, read_returns
from jaxrl.config import RunConfig, flag
from jaxrl.core.types import EnvSpec
from jaxrl.envs import env_family
from jaxrl.errors import ConfigError
from jaxrl.logs.files import write_json
from jaxrl.training import evaluation
from jaxrl.training.population import member_hparams, population_of

FILES = ("policy.onnx", "policy.json", "README.md")
NEEDS_EXTRA = "jaxrl export needs the export extra (onnx, onnxruntime): pip install 'jaxrl[export]'"


def check_extra(*modules: str) -> None:
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"{NEEDS_EXTRA} ({', '.join(missing)} is not installed)")


def version() -> str:
    try:
        return importlib.metadata.version("jaxrl")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def out_dir(run_dir: Path, name: str, out: str | Path | None, force: bool) -> Path:
    """Where the folder goes (default <run dir>/policy-<member>); one line if it exists, unless `force`."""
    path = Path(out) if out is not None else run_dir / f"policy-{name}"
    if path.exists() and not force:
        raise ConfigError(f"--out {path}: it already exists; pass --force to replace it")
    if path.exists() and not is_policy_folder(path):  # --force replaces a policy folder, nothing else
        raise ConfigError(f"--out {path}: it exists and is not a policy folder; --force replaces only those")
    return path


def greedy_policy(member: evaluation.Member):
    """obs [B, ...] -> {"action": the greedy action, as `jaxrl eval` takes it, **Agent.outputs}."""
    act = evaluation.action_fn(member.agent, False, member.spec)
    key = jax.random.PRNGKey(0)  # made here, a constant: the greedy action never reads it
    agent, state = member.agent, member.state

    def policy(obs):
        named = agent.outputs(state, obs) if agent.outputs else {"preferences": agent.preferences(state, obs)}
        return {"action": act(state, obs, key), **named}

    return policy


def action_space(spec: EnvSpec) -> dict:
    if not spec.continuous:
        return {"type": "Discrete", "n": spec.num_actions}
    return {
        "type": "Box",
        "shape": list(spec.action_shape),
        "low": list(spec.action_low),
        "high": list(spec.action_high),
    }


def train_command(config: RunConfig, hyper: dict, seed: int) -> str | None:
    """A `jaxrl train` command that retrains this member alone (a population's member k trains as
    the single run with its seed); None for PBT (its hyperparameters changed as it trained) and
    for env objects given from Python."""
    if config.pbt or config.env_object:
        return None
    words = ["jaxrl train", config.algo, "--env", config.env, "--backend", config.backend, "--seed", str(seed)]
    words += ["--total-steps", str(config.total_steps)]
    settings = {**config.env_options, **dataclasses.asdict(config.static), **hyper}
    for name, value in settings.items():
        if value is None or (isinstance(value, list | tuple) and not value):
            continue  # the default (no device named, say): a flag with no value would not parse
        text = " ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        words += [flag(name), text]
    return " ".join(words)


def final_return(run_dir: Path, name: str) -> float | None:
    try:
        runs = json.loads((run_dir / "summary.json").read_text())["runs"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
        return None
    return next((run["final_return"] for run in runs if run.get("run") == name), None)


def describe(config: RunConfig, run_dir: Path, population, member: evaluation.Member, model, greedy) -> dict:
    """policy.json: what the ONNX file expects and gives, and where it came from."""
    hyper = member_hparams(population)[member.index]
    seed = hyper.pop("seed")
    spec = member.spec
    normalised = bool(getattr(config.static, "norm_obs", False))
    return {
        "format": "jaxrl policy folder, version 1",
        "jaxrl_version": version(),
        "onnx": {
            "file": "policy.onnx",
            "opset": model.opset_import[0].version,
            "input": "obs",
            "outputs": {o.name: onnx_shape(o) for o in model.graph.output},
        },
        "env": {
            "id": config.env,
            "backend": config.backend,
            "atari": env_family(config.env, config.backend) == "atari",
            "options": config.env_options,
        },
        "observation": {
            "shape": list(spec.obs_shape),
            "dtype": spec.obs_dtype,
            "preprocessing": (
                f"a stack of the last {spec.frame_stack} frames on the first axis (stacking is the caller's)"
                if spec.frame_stack > 1
                else "as the env gives it"
            )  # fmt: skip
            + ("; normalised inside policy.onnx by the run's running statistics" if normalised else ""),
        },
        "action_space": action_space(spec),
        "algorithm": config.algo,
        "member": {"name": member.name, "index": member.index, "seed": seed},
        "hyperparameters": hyper,
        "static": dataclasses.asdict(config.static),
        "checkpoint_step": member.step,
        "command": train_command(config, hyper, seed),
        "returns": {"final": final_return(run_dir, member.name), "greedy": greedy},
        "run_dir": str(run_dir.resolve()),
    }


def onnx_shape(value_info) -> dict:
    # lazy: onnx is the optional export extra
    from onnx import helper

    tensor = value_info.type.tensor_type
    dims = [d.dim_param or d.dim_value for d in tensor.shape.dim]
    return {"shape": dims, "dtype": str(helper.tensor_dtype_to_np_dtype(tensor.elem_type))}


def greedy_returns(config: RunConfig, run_dir: Path, population, index: int, episodes: int, seed: int):
    """`episodes` greedy games of the member, as `jaxrl eval --seed` plays them; None for 0."""
    if episodes == 0:
        return None
    scores = evaluation.played(config, run_dir, population, [index], episodes, seed, False)[3]
    returns = scores.returns[0]
    return {"episodes": episodes, "seed": seed, "mean": float(returns.mean()), "returns": returns.tolist()}


def model_card(info: dict, curve: bool) -> str:
    greedy, final = info["returns"]["greedy"], info["returns"]["final"]
    greedy_text = (
        "-" if greedy is None else f"{greedy['mean']:.1f} over {greedy['episodes']} games (seed {greedy['seed']})"
    )
    lines = [
        f"# {info['algorithm']} on {info['env']['id']}: member {info['member']['name']}",
        "",
        f"A greedy policy exported by jaxrl {info['jaxrl_version']} from `{info['run_dir']}` at env step "
        f"{info['checkpoint_step']:,}: `policy.onnx` (ONNX opset {info['onnx']['opset']}) runs with onnxruntime, "
        "without JAX.",
        "",
        "| | |",
        "|---|---|",
        f"| observation | `obs` [batch, {', '.join(map(str, info['observation']['shape']))}] "
        f"{info['observation']['dtype']}: {info['observation']['preprocessing']} |",
        f"| action space | {json.dumps(info['action_space'])} |",
        f"| outputs | {', '.join(f'`{name}`' for name in info['onnx']['outputs'])} |",
        f"| final return (mean of the last 20 training episodes) | {'-' if final is None else f'{final:.1f}'} |",
        f"| greedy return | {greedy_text} |",
        f"| hyperparameters | {json.dumps(info['hyperparameters'])} |",
        "",
        "Retrain it: " + (f"`{info['command']}`" if info["command"] else "(a PBT member or a Python env object)"),
        "",
        "Play it: `python examples/onnx_inference.py <this folder> --episodes 10` (gymnasium + onnxruntime).",
    ]
    if curve:
        lines += ["", "![learning curve](learning_curve.png)"]
    return "\n".join(lines) + "\n"


def draw_curve(run_dir: Path, name: str, config: RunConfig, path: Path) -> bool:
    member_dir = run_dir / name
    if not any(member_dir.glob("events.out.tfevents.*")):
        return False
    curve = read_returns(member_dir)
    if not curve.steps.size:
        return False
    plot_learning_curves([Group(config.env, config.algo, run_dir.name, "", [curve])], path)
    return True


def export(config: RunConfig, run_dir: Path, member: int | str, out, force: bool, episodes: int, seed: int = 0) -> dict:
    """Writes the policy folder of `member` (see the module's docstring) and returns policy.json
    with "folder" and "export_s" added. Everything is checked and converted before anything is
    written; the folder is staged and renamed into place."""
    check_extra("onnx")
    population = population_of(get_algorithm(config.algo), config)
    index = evaluation.member_index(population, member, run_dir)
    folder = out_dir(run_dir, population.names[index], out, force)
    # lazy: onnx is the optional export extra (checked above)
    from jaxrl.exporter.graph import to_onnx

    start = time.perf_counter()
    restored = evaluation.restore_member(config, run_dir, index)
    metadata = {"jaxrl_algorithm": config.algo, "jaxrl_env": config.env, "jaxrl_member": restored.name}
    model = to_onnx(greedy_policy(restored), restored.spec.obs_shape, restored.spec.obs_dtype, metadata)
    export_s = time.perf_counter() - start
    greedy = greedy_returns(config, run_dir, population, index, episodes, seed)
    info = describe(config, run_dir, population, restored, model, greedy)
    staging = folder.parent / f".{folder.name}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "policy.onnx").write_bytes(model.SerializeToString())
    write_json(staging / "policy.json", info)
    curve = draw_curve(run_dir, restored.name, config, staging / "learning_curve.png")
    (staging / "README.md").write_text(model_card(info, curve))
    if folder.exists():
        shutil.rmtree(folder)
    staging.rename(folder)
    return {**info, "folder": str(folder), "export_s": export_s}


def is_policy_folder(path: str | Path) -> bool:
    return (Path(path) / "policy.json").is_file() and (Path(path) / "policy.onnx").is_file()


class OnnxPolicy:
    """A policy folder's greedy policy through onnxruntime, called as `jaxrl.load`'s: a NumPy batch
    of observations [B, *obs_shape] in, NumPy actions [B] (Box: [B, A]) out; one observation, one action."""

    def __init__(self, folder: str | Path):
        check_extra("onnxruntime")
        # lazy: onnxruntime is the optional export extra
        import onnxruntime

        folder = Path(folder)
        info = json.loads((folder / "policy.json").read_text())
        self.obs_shape = tuple(info["observation"]["shape"])
        self.obs_dtype = np.dtype(info["observation"]["dtype"])
        self.session = onnxruntime.InferenceSession(str(folder / "policy.onnx"), providers=["CPUExecutionProvider"])
        self.info = info

    def __call__(self, observations) -> np.ndarray:
        obs = np.asarray(observations, self.obs_dtype)
        single = obs.shape == self.obs_shape
        if not single and obs.shape[1:] != self.obs_shape:
            raise ValueError(f"observations of shape {obs.shape}: expected [B, {', '.join(map(str, self.obs_shape))}]")
        (actions,) = self.session.run(["action"], {"obs": obs[None] if single else obs})
        return actions[0] if single else actions
