"""The errors a user sees as one line: bad input (exit status 2 on the command line)."""

import difflib


class ConfigError(ValueError):
    """A bad setting, flag, id or run directory: one line, raised before anything is built."""


class CheckpointError(ConfigError):
    """A checkpoint that is missing, unreadable or built for another run; one line."""


def did_you_mean(name: str, candidates, quote: str = "'") -> str:
    """The end of an "unknown name" line: "; did you mean 'x'?" for the closest of `candidates`
    (difflib's), or "" where none is close. `quote`: around the suggestion ("" for flags)."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean {quote}{close[0]}{quote}?" if close else ""
