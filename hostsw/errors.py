"""User-facing errors.

Anything a user can fix (a bad preset, a missing dataset, bits=0) raises a subclass of
``HostswError``. The CLI prints its message as one line and exits non-zero, without a traceback;
every other exception is a bug and keeps its traceback.
"""


class HostswError(Exception):
    """An error the user can fix; the message names the problem and the fix."""


class ConfigError(HostswError, ValueError):
    """Invalid configuration value (preset, YAML, precision, hyperparameter)."""


class DatasetNotFoundError(HostswError, FileNotFoundError):
    """A dataset is not available locally; the message says how to get it."""


class OutputError(HostswError, OSError):
    """An output location cannot be written."""


class TrainingDivergedError(HostswError, RuntimeError):
    """Training produced a non-finite loss; the message names the step."""


class UnsupportedModelError(HostswError, ValueError):
    """A model outside the supported fixed-point family; the message names the node and reason."""


class ToolchainError(HostswError, RuntimeError):
    """An external tool (g++, hls4ml) is missing or failed; the message says what to do."""


def unknown_key_error(head: str, key: str, valid) -> ConfigError:
    """``head`` (which names the unknown ``key``), a close match if there is one, and every valid
    key: a typo such as ``epochz`` then says ``did you mean epochs?``."""
    import difflib
    valid = sorted(map(str, valid))
    close = difflib.get_close_matches(str(key), valid, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return ConfigError(f"{head}{hint}: valid ones are {', '.join(valid) or 'none'}")
