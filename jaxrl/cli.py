"""`jaxrl train | sweep | pbt <algo> [flags]`, `jaxrl eval | export RUN_DIR` and `jaxrl compare RUN_DIR ...`: the
console script, on top of `jaxrl.api`. Parsing and validation end before any env is built or
anything compiled; a bad input is one line on stderr and exit code 2.
"""

# ruff: noqa: E402
import gc

# The imports below (jax, flax, optax, tyro) make ~200k objects that live as long as the process;
# the collector would walk them again and again while they are made (~0.16 s of a warm CartPole
# run, BENCHMARKS.md "Start-up: CartPole PPO's preset and scipy"). Off meanwhile, then those
# objects are frozen out of its way and it runs as usual.
gc.disable()

import atexit
import dataclasses
import inspect
import itertools
import os
import signal
import sys
import typing
from typing import Annotated, Union

import tyro

from jaxrl import api
from jaxrl.algos import MODULES, UnknownAlgorithmError, get_algorithm
from jaxrl.analysis import compare
from jaxrl.config import flag, flag_table, taken_by
from jaxrl.errors import ConfigError, did_you_mean

gc.freeze()
gc.enable()

EXIT_BAD_INPUT = 2
METAVARS = {int: "INT", float: "FLOAT", str: "STR", bool: "{True,False}"}


def optional_flag(kind: type, help_text: str):
    metavar = METAVARS.get(kind, None)
    return Annotated[kind | None, tyro.conf.arg(help=help_text, metavar=metavar, help_behavior_hint="")]


def algorithm_flags(name: str, command: str) -> type:
    """A dataclass of every flag of `jaxrl <command> <name>`, for tyro."""
    algorithm = get_algorithm(name)
    fields = [
        (key, optional_flag(kind, help_text), None) for key, (kind, help_text) in flag_table(algorithm, command).items()
    ]
    flags = dataclasses.make_dataclass(f"{name}_{command}_flags", fields, namespace={"ALGO": name})
    flags.__doc__ = f"{algorithm.summary}."
    return flags


def algorithm_choice(command: str) -> type:
    return Union[tuple(Annotated[algorithm_flags(name, command), tyro.conf.subcommand(name)] for name in MODULES)]  # noqa: UP007


def bad_input(error: Exception, checkpoint_read: bool = False) -> int:
    """One line on stderr; the exit status for bad input."""
    print(f"jaxrl: error: {error}", file=sys.stderr)
    if checkpoint_read:
        sys.unraisablehook = lambda _: None  # orbax's abandoned reads would complain at exit
    return EXIT_BAD_INPUT


def report_divergence(summary: dict) -> int:
    """One line per diverged member on stderr; exit status 1 when every member diverged."""
    diverged = [run for run in summary["runs"] if run["diverged_at_step"] is not None]
    for run in diverged:
        print(
            f"jaxrl: {run['run']} diverged at env step {run['diverged_at_step']:,} (NaN or inf in a loss or "
            "its parameters): its last finite networks were kept and it stopped learning",
            file=sys.stderr,
        )
    if diverged and len(diverged) == len(summary["runs"]):
        print(f"jaxrl: error: every member diverged; see {summary['run_dir']}", file=sys.stderr)
        return 1
    return 0


def report(result: api.Result) -> int:
    """Prints how a run (or resume) ended and maps it to the exit status: 128 + the signal's
    number if a signal stopped it, 1 if every member diverged, else 0. Only the run's primary
    process prints (a distributed run's others give the status alone)."""
    summary = result.summary
    stop = summary["interrupted_by"]
    if not result.primary:
        if stop in ("SIGINT", "SIGTERM"):
            return 128 + signal.Signals[stop].value
        return int(all(run["diverged_at_step"] is not None for run in summary["runs"]))
    if stop:
        print(
            f"jaxrl: stopped by {stop} at env step {summary['runs'][0]['env_steps']:,} of "
            f"{summary['total_steps']:,}; checkpoint written. Resume with: jaxrl train --resume {summary['run_dir']}",
            file=sys.stderr,
        )
        return 128 + signal.Signals[stop].value
    if result.report is not None:
        print(result.report)
        return report_divergence(summary)
    results = ", ".join(
        f"{run['run']} {run['final_return']:.1f}" if run["final_return"] is not None else f"{run['run']} -"
        for run in summary["runs"]
    )
    config, solved = result.config, ""
    if config.target_return is not None:
        reached = sum(run["steps_to_target"] is not None for run in summary["runs"])
        solved = f"; target {config.target_return:g} reached by {reached}/{len(summary['runs'])}"
    print(
        f"{config.algo} on {config.env}: mean return of the last 20 episodes: {results}{solved}; "
        f"{summary['wall_s']:.1f}s; {summary['run_dir']}"
    )
    return report_divergence(summary)


RUNS = {"train": api.train, "sweep": api.sweep, "pbt": api.pbt}


def run_command(command: str, flags) -> int:
    """`jaxrl train | sweep | pbt ALGO --flags`: the API's call of the same name with the flags given."""
    options = {key: value for key, value in vars(flags).items() if value is not None}
    return report(RUNS[command](flags.ALGO, progress=True, **options))


RESUME_SWITCHES = ("--distributed", "--force")


def resume_argv(argv: list[str]) -> tuple[str, str | None, dict[str, bool]] | None:
    """`jaxrl train [ALGO] --resume DIR [--distributed True] [--force True]` -> (DIR, ALGO,
    {"distributed": ..., "force": ...}); None when --resume is not given."""
    if not argv or argv[0] != "train" or not any(word.split("=")[0] == "--resume" for word in argv):
        return None
    words = " ".join(argv[1:]).replace("=", " ").split()
    algo = words.pop(0) if words and not words[0].startswith("-") else None
    switches = dict.fromkeys((name.removeprefix("--") for name in RESUME_SWITCHES), False)
    pairs = list(zip(words[2::2], words[3::2], strict=False))
    if (
        len(words) >= 2
        and words[0] == "--resume"
        and len(words) % 2 == 0
        and all(name in RESUME_SWITCHES and value in ("True", "False") for name, value in pairs)
    ):
        switches.update({name.removeprefix("--"): value == "True" for name, value in pairs})
        return words[1], algo, switches
    raise ConfigError(
        "--resume continues a run with its saved settings and takes nothing else: "
        "jaxrl train --resume RUN_DIR [--distributed True] [--force True]"
    )


def compare_main(paths: list[str], out: str = "comparison") -> int:
    """Learning curves (IQM and 95% CI per run group) and a table of final returns, from the
    TensorBoard logs of finished runs: one PNG per env and results.md in --out."""
    try:
        print(compare.main(paths, out))
    except compare.CompareError as error:
        return bad_input(error)
    return 0


def eval_main(run_dir: str, episodes: int, seed: int, stochastic: bool, video: bool, runs: list[str] | None) -> int:
    try:
        result = api.evaluate(run_dir, episodes=episodes, seed=seed, stochastic=stochastic, video=video, runs=runs)
    except ConfigError as error:
        return bad_input(error, checkpoint_read=True)
    print(
        f"{result['algo']} on {result['env']}, checkpoint at env step {result['checkpoint_step']:,}, {result['policy']}:"
    )
    print("\n".join(result["lines"]))
    for name, video in result["videos"].items():
        print(f"{name}: video of a game with return {video['return']:.1f}: {video['path']}")
    return 0


def eval_command(
    run_dir: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR")],
    episodes: Annotated[int, tyro.conf.arg(help="games per member")] = 10,
    seed: Annotated[int, tyro.conf.arg(help="seeds the envs (alike for every member) and sampling")] = 0,
    stochastic: Annotated[bool, tyro.conf.arg(help="act as in training (sampled / epsilon-greedy)")] = False,
    video: Annotated[bool, tyro.conf.arg(help="write the first game of each member as a video")] = False,
    run: Annotated[list[str] | None, tyro.conf.arg(help="only these members, e.g. s3")] = None,
):
    """Play a run's latest checkpoint: mean and std of return and length per member, no
    reward clipping or episodic life; eval.json in the run dir."""
    return eval_main(run_dir, episodes, seed, stochastic, video, run)


def export_command(
    run_dir: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR")],
    member: Annotated[str, tyro.conf.arg(help="the member: an index, or a name such as s3")] = "0",
    out: Annotated[
        str | None, tyro.conf.arg(help="the policy folder (default: RUN_DIR/policy-<member>)", metavar="DIR")
    ] = None,
    force: Annotated[bool, tyro.conf.arg(help="replace an existing policy folder")] = False,
    episodes: Annotated[int, tyro.conf.arg(help="greedy games for policy.json's return (0: none)")] = 10,
):
    """Export a member's greedy policy as a policy folder that runs without JAX: policy.onnx,
    policy.json and a README.md model card (pip install 'jaxrl[export]')."""
    try:
        info = api.export(run_dir, int(member) if member.isdigit() else member, out=out, force=force, episodes=episodes)
    except ConfigError as error:
        return bad_input(error, checkpoint_read=True)
    greedy = info["returns"]["greedy"]
    returns = "" if greedy is None else f", greedy return {greedy['mean']:.1f} over {greedy['episodes']} games"
    print(f"{info['algorithm']} on {info['env']['id']}, member {info['member']['name']}{returns}: {info['folder']}")
    return 0


def compare_command(
    paths: Annotated[list[str], tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR")],
    out: Annotated[str, tyro.conf.arg(help="folder for the PNGs and results.md")] = "comparison",
):
    """Compare finished runs from their TensorBoard logs: IQM +- 95% CI curves per env, and a table."""
    return compare_main(paths, out)


COMMANDS = ("train", "sweep", "pbt", "eval", "compare", "export")
ALGO_COMMANDS = ("train", "sweep", "pbt")  # the commands whose next word is an algorithm
HELP = ("-h", "--help")


def signature_flags(command) -> dict[str, type | None]:
    """The flags tyro makes of a command function's keyword parameters, by the type of value each
    takes: a bool is a switch (--x, --no-x) that takes none, a list takes one or more words."""
    hints = typing.get_type_hints(command)
    kinds: dict[str, type | None] = {}
    for name, parameter in inspect.signature(command).parameters.items():
        hint = hints[name]
        if parameter.default is inspect.Parameter.empty:
            continue  # positional
        if hint is bool:
            kinds[flag(name)] = kinds["--no-" + flag(name)[2:]] = None
        elif any(typing.get_origin(kind) is list for kind in (hint, *typing.get_args(hint))):
            kinds[flag(name)] = list
        else:
            kinds[flag(name)] = hint if hint in (int, float) else str
    return kinds


def check_command(argv: list[str]) -> None:
    """The command and its algorithm, with one line rather than tyro's boxes: `jaxrl trian`,
    `jaxrl train pppo`, `jaxrl train`."""
    if argv and argv[0] in HELP:
        return
    if not argv or argv[0] not in COMMANDS:
        given = f"unknown command '{argv[0]}'" if argv else "no command"
        hint = did_you_mean(argv[0], COMMANDS) if argv else ""
        raise ConfigError(f"{given}{hint} (jaxrl {' | '.join(COMMANDS)})")
    command, rest = argv[0], argv[1:]
    if command not in ALGO_COMMANDS or any(word in HELP for word in rest):
        return
    if rest and not rest[0].startswith("-"):
        get_algorithm(rest[0])
    elif not (command == "train" and rest and rest[0].partition("=")[0] == "--resume"):
        raise ConfigError(f"jaxrl {command} needs an algorithm first: {', '.join(MODULES)}")


def flag_kinds(argv: list[str]) -> tuple[dict[str, type | None], list[str]]:
    """(the command's flags by the type of value each takes, the words after the command and
    its algorithm)."""
    if argv[0] in ALGO_COMMANDS:
        table = flag_table(get_algorithm(argv[1]), argv[0])
        return {flag(name): kind for name, (kind, _) in table.items()}, argv[2:]
    command = {"eval": eval_command, "export": export_command}.get(argv[0], compare_command)
    return signature_flags(command), argv[1:]


def check_flags(argv: list[str]) -> None:
    """Unknown flags, values of the wrong type and a missing RUN_DIR fail here with one line
    (tyro's messages are boxes of several); everything else is left to tyro. After check_command."""
    if any(word in HELP for word in argv):
        return
    kinds, words = flag_kinds(argv)
    command = " ".join(argv[:2] if argv[0] in ALGO_COMMANDS else argv[:1])
    values = set()  # indices of the words that are flags' values
    for i, word in enumerate(words):
        if not word.startswith("--"):
            continue
        name, given, value = word.partition("=")
        if name not in kinds:
            hint = taken_by(name[2:].replace("-", "_")) if argv[0] in ALGO_COMMANDS else ""
            raise ConfigError(f"unknown flag {name} for jaxrl {command}{hint or did_you_mean(name, kinds, quote='')}")
        kind = kinds[name]
        if kind is None:
            if given:
                raise ConfigError(f"{name} is a switch and takes no value")
            continue
        if not given:
            value = words[i + 1] if i + 1 < len(words) else None
            following = itertools.takewhile(lambda j: not words[j].startswith("--"), range(i + 1, len(words)))
            values.update(following if kind is list else [i + 1])
        if value is None or value.startswith("--"):
            raise ConfigError(f"{name} needs a value")
        if kind is bool and value not in ("True", "False"):
            raise ConfigError(f"invalid {name} {value!r}: expected True or False")
        try:
            if kind in (int, float):
                kind(value)
        except ValueError:
            raise ConfigError(f"invalid {name} {value!r}: expected {METAVARS[kind].lower()}") from None
    positional = [word for i, word in enumerate(words) if not word.startswith("--") and i not in values]
    if argv[0] in ("eval", "compare", "export") and not positional:
        raise ConfigError(f"jaxrl {argv[0]} needs a RUN_DIR")
    if argv[0] in ("eval", "export") and len(positional) > 1:
        switches = "--stochastic and --video take" if argv[0] == "eval" else "--force takes"
        raise ConfigError(f"jaxrl {argv[0]} takes one RUN_DIR, not {' '.join(positional)} ({switches} no value)")


def check_sweep_argv(argv: list[str]) -> None:
    """`jaxrl sweep ppo --num-envs 4,8`: only numeric hyperparameters take lists (and ranges,
    also in `jaxrl pbt`); anything else that is not text (names, paths) fixes shapes or the
    compiled program, which one population cannot vary. Unknown flags are left to check_flags."""
    if argv[0] not in ("sweep", "pbt"):
        return
    algorithm = get_algorithm(argv[1])
    table = flag_table(algorithm, argv[0])
    hyper = {flag(f.name) for f in dataclasses.fields(algorithm.Hyper)}
    fixed = {flag(name) for name, (kind, _) in table.items() if kind is not str}
    for i, word in enumerate(argv[2:], start=2):
        name, given, value = word.partition("=")
        if not given and i + 1 < len(argv):
            value = argv[i + 1]
        if name in fixed and ("," in value or ":" in value):
            raise ConfigError(
                f"{name} {value}: only numeric hyperparameters can be swept in one program "
                f"({', '.join(sorted(hyper))}); sweep {name} with separate runs"
            )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        check_command(argv)
        resuming = resume_argv(argv)
        if not resuming and argv[0] not in HELP:
            check_sweep_argv(argv)  # first: `--num-envs 4,8` deserves the sweep's explanation
            check_flags(argv)
    except (UnknownAlgorithmError, ConfigError) as error:
        return bad_input(error)
    if resuming:
        run_dir, algo, switches = resuming
        try:
            return report(api.resume(run_dir, algo=algo, progress=True, **switches))
        except ConfigError as error:  # (a checkpoint that does not fit is read before anything compiles)
            return bad_input(error, checkpoint_read=True)
    if argv[0] in ALGO_COMMANDS and not any(word in HELP for word in argv):
        # the algorithm is known (check_command): tyro parses its flags alone, not the flags of
        # every command's every algorithm (0.3-0.4 s of a CartPole run's start, BENCHMARKS.md
        # "Start-up: CartPole PPO's preset and scipy"); help still lists them all
        flags = tyro.cli(algorithm_flags(argv[1], argv[0]), args=argv[2:], prog=f"jaxrl {argv[0]} {argv[1]}")
        try:
            return run_command(argv[0], flags)
        except ConfigError as error:
            return bad_input(error)
    train_algorithms, sweep_algorithms = algorithm_choice("train"), algorithm_choice("sweep")
    pbt_algorithms = algorithm_choice("pbt")

    def train_command(algo: Annotated[train_algorithms, tyro.conf.arg(name="")]):
        """Train an algorithm on an env: one or many seeds in one compiled program.
        `jaxrl train --resume RUN_DIR` continues a stopped run from its latest checkpoint."""
        return run_command("train", algo)

    def sweep_command(algo: Annotated[sweep_algorithms, tyro.conf.arg(name="")]):
        """Train a grid (or --random sample) of hyperparameter points x seeds in one compiled
        program; report each point's IQM of final return with a 95% bootstrap CI."""
        return run_command("sweep", algo)

    def pbt_command(algo: Annotated[pbt_algorithms, tyro.conf.arg(name="")]):
        """Population-based training in one compiled program: members start from points sampled
        in the given ranges; every --ready-every env steps the worst copy the best and explore."""
        return run_command("pbt", algo)

    commands = {
        "train": train_command, "sweep": sweep_command, "pbt": pbt_command, "eval": eval_command,
        "compare": compare_command, "export": export_command,
    }  # fmt: skip
    try:
        return tyro.extras.subcommand_cli_from_dict(commands, args=argv, prog="jaxrl")
    except ConfigError as error:
        return bad_input(error)


def entry() -> None:
    """The `jaxrl` command: `main()`, then the exit handlers (logging, jax.distributed's shutdown,
    any other registered), then the process ends without the interpreter freeing its modules one
    by one: ~0.3 s of a warm CartPole run's 3 s, after everything is written. An exception or
    `SystemExit` (tyro's --help, bad flags) leaves as usual."""
    code = main()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
