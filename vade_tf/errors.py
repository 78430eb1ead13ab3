"""Ways a training run ends on purpose, importable without TensorFlow (the CLI catches them)."""
from __future__ import annotations


class RunDirBusy(RuntimeError):
    """Another process is training in this run directory."""


class TrainingStopped(RuntimeError):
    """Training ended early: a signal (a checkpoint was saved) or a non-finite loss."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code
