"""What a run prints while it trains: Keras's live progress bar on a terminal, one line per epoch
elsewhere (a log file, CI). Phases print their durations (``timing.Stopwatch.phase``); the commands
keep TensorFlow's own log out (``commands.common``).
"""
from __future__ import annotations

import sys
import time
from typing import Sequence

import keras

from vade_tf.timing import duration

# The loss terms, printed to three decimals; everything else (scores) to four.
LOSS_KEYS = ("loss", "elbo", "reconstruction", "kl_z", "kl_c")


def keras_verbosity(verbose: int) -> int:
    """``fit``'s own progress: Keras's live bar on a terminal; elsewhere none (``epoch_lines`` print)."""
    return 1 if verbose and sys.stdout.isatty() else 0


def epoch_lines(verbose: int, label: str, epochs: int, keys: Sequence[str]) -> list[keras.callbacks.Callback]:
    """The callbacks that print one line per epoch when ``verbose`` and not on a terminal."""
    return [EpochLine(label, epochs, keys)] if verbose and not sys.stdout.isatty() else []


class EpochLine(keras.callbacks.Callback):
    """``<label> <epoch>/<epochs> (<duration>): key value ...``, the ``keys`` the epoch's logs hold."""

    def __init__(self, label: str, epochs: int, keys: Sequence[str]):
        super().__init__()
        self.label, self.epochs, self.keys = label, epochs, keys
        self.start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:  # a partial epoch: the reason is printed instead
            return
        logs = logs or {}
        shown = " ".join(f"{key} {logs[key]:.{3 if key in LOSS_KEYS else 4}f}" for key in self.keys
                         if key in logs)
        print(f"{self.label} {epoch + 1}/{self.epochs} ({duration(time.perf_counter() - self.start)}): "
              f"{shown}", flush=True)
