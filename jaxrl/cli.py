"""`jaxrl train <algo> [flags]`: the console script. Parsing and validation end before any
env is built or anything compiled; a bad input is one line on stderr and exit code 2.
"""

import dataclasses
import os
import sys
from pathlib import Path
from typing import Annotated, Union

import tyro

from jaxrl.algos import MODULES, UnknownAlgorithmError, get_algorithm
from jaxrl.config import RUN_FLAGS, ConfigError, resolve

EXIT_BAD_INPUT = 2
METAVARS = {int: "INT", float: "FLOAT", str: "STR", bool: "{True,False}"}


def optional_flag(kind: type, help_text: str):
    metavar = METAVARS.get(kind, None)
    return Annotated[kind | None, tyro.conf.arg(help=help_text, metavar=metavar, help_behavior_hint="")]


def algorithm_flags(name: str) -> type:
    """A dataclass of every flag of `jaxrl train <name>`: run options plus the algorithm's fields."""
    algorithm = get_algorithm(name)
    fields = [(key, optional_flag(kind, help_text), None) for key, (kind, help_text) in RUN_FLAGS.items()]
    for role, cls in (("static", algorithm.Static), ("hyperparameter", algorithm.Hyper)):
        for f in dataclasses.fields(cls):
            fields.append((f.name, optional_flag(f.type, f"{role} (default: the preset's, else {f.default!r})"), None))
    flags = dataclasses.make_dataclass(f"{name}_flags", fields)
    flags.__doc__ = f"{algorithm.summary}."
    return flags


def algorithm_choice() -> type:
    return Union[tuple(Annotated[algorithm_flags(name), tyro.conf.subcommand(name)] for name in MODULES)]  # noqa: UP007


def enable_compilation_cache() -> None:
    """Repeated runs of the same program skip XLA compilation (JAX's persistent cache)."""
    import jax

    cache = os.environ.get("JAXRL_CACHE_DIR", str(Path.home() / ".cache" / "jaxrl" / "xla"))
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def train(flags) -> int:
    algo = type(flags).__name__.removesuffix("_flags")
    config = resolve(get_algorithm(algo), vars(flags))
    enable_compilation_cache()
    from jaxrl.runner import train as run_training

    summary = run_training(config)
    results = ", ".join(
        f"{run['run']} {run['final_return']:.1f}" if run["final_return"] is not None else f"{run['run']} -"
        for run in summary["runs"]
    )
    solved = ""
    if config.target_return is not None:
        reached = sum(run["steps_to_target"] is not None for run in summary["runs"])
        solved = f"; target {config.target_return:g} reached by {reached}/{len(summary['runs'])}"
    print(
        f"{algo} on {config.env}: mean return of the last 20 episodes: {results}{solved}; "
        f"{summary['wall_s']:.1f}s; {summary['run_dir']}"
    )
    return 0


def check_algorithm_word(argv: list[str]) -> None:
    """`jaxrl train pppo`: one line with a suggestion, rather than tyro's list of subcommands."""
    if len(argv) >= 2 and argv[0] == "train" and not argv[1].startswith("-"):
        get_algorithm(argv[1])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        check_algorithm_word(argv)
    except UnknownAlgorithmError as error:
        print(f"jaxrl: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    algorithms = algorithm_choice()

    def train_command(algo: Annotated[algorithms, tyro.conf.arg(name="")]):
        """Train an algorithm on an env: one or many seeds in one compiled program."""
        return train(algo)

    try:
        return tyro.extras.subcommand_cli_from_dict({"train": train_command}, args=argv, prog="jaxrl")
    except ConfigError as error:
        print(f"jaxrl: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
