"""The errors a user sees as one line: bad input (exit status 2 on the command line)."""

import difflib


class ConfigError(ValueError):
    """A bad setting, flag, id or run directory: one line, raised before anything is built."""


class CheckpointError(ConfigError):
    """A checkpoint that is missing, unreadable or built for another run; one line."""


def did_you_mean(name: str, candidates) -> str:
    """ "; did you mean 'x'?" for the closest candidate, or "" when none is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
