"""The errors a user sees as one line: bad input (exit status 2 on the command line)."""


class ConfigError(ValueError):
    """A bad setting, flag, id or run directory: one line, raised before anything is built."""


class CheckpointError(ConfigError):
    """A checkpoint that is missing, unreadable or built for another run; one line."""
