"""User-facing errors. Each names the file, key or value at fault and what was expected."""


class ImbsemiError(Exception):
    """Base class: a user mistake the CLIs report in one line, without a traceback."""


class ConfigError(ImbsemiError):
    """A config key, type or value is not allowed."""


class DataError(ImbsemiError):
    """A data file or a requested split cannot be built as asked."""


class CheckpointError(ImbsemiError):
    """A checkpoint file cannot be read or does not fit the model."""
