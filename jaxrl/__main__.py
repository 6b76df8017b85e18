"""`python -m jaxrl ...` is the `jaxrl` command, for environments whose scripts are not on PATH."""

from jaxrl.cli import entry

entry()
