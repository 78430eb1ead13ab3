"""Every way a run ends on purpose, importable without TensorFlow, and the one place the CLIs report them.

A user error (a bad config, data file, run directory or export target) is one line that names the
problem and the fix, and exit code 2; a stopped run exits with its own code (3 for a non-finite
loss, 128 + the signal after SIGTERM/SIGINT) and keeps what it saved.
"""
from __future__ import annotations

import sys
from typing import Callable


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


def run_cli(body: Callable[[], int]) -> int:
    """``body()``'s exit code, or the one-line report of the error that ended it, on stderr."""
    try:
        return body()
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingStopped as e:  # finished runs and checkpoints are kept: re-run to continue
        print(f"{'error' if e.exit_code == NON_FINITE_LOSS else 'stopped'}: {e}", file=sys.stderr)
        return e.exit_code
