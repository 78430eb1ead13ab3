"""Every way a run ends on purpose, importable without TensorFlow (``commands.common.run_cli``
reports them)."""
from __future__ import annotations


class ConfigError(ValueError):
    """A config problem the user can fix; its message is one line naming the key and the fix."""


class DataError(ValueError):
    """A data problem the user can fix; its message is one line naming the file and the fix."""


class ExportError(ValueError):
    """An export problem the user can fix; its message is one line naming it and the fix."""


class RunDirBusy(RuntimeError):
    """Another process is training in this run directory."""


class TrainingStopped(RuntimeError):
    """Training ended early: a signal (a checkpoint was saved) or a non-finite loss."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


USER_ERRORS = (ConfigError, DataError, ExportError, RunDirBusy)
NON_FINITE_LOSS = 3  # TrainingStopped's exit code when the loss stopped being a number
