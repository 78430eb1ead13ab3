"""What a run prints while it trains: a live progress bar of each epoch on a terminal, one line per
epoch elsewhere (a log file, CI). Phases print their durations (``timing.Stopwatch.phase``); the
commands keep TensorFlow's own log out (``commands.common``).
"""
from __future__ import annotations

import sys
import time
from typing import Sequence

import keras
import numpy as np

from vade_tf.timing import duration

# The loss terms, printed to three decimals; everything else (scores) to four.
LOSS_KEYS = ("loss", "elbo", "reconstruction", "kl_z", "kl_c")


def log_value(value) -> float:
    """A train function's log as a float (several workers hand each as a one-element vector)."""
    return float(np.reshape(value, ()))


class EpochReport:
    """``<label> <epoch>/<epochs> (<duration>): key value ...`` of the ``keys`` an epoch's logs hold,
    printed when it ends; on a terminal, Keras's live bar of its steps instead. Silent unless
    ``verbose``."""

    def __init__(self, verbose: int, label: str, epochs: int, keys: Sequence[str]):
        self.verbose, self.label, self.epochs, self.keys = verbose, label, epochs, keys
        self.live = bool(verbose) and sys.stdout.isatty()
        self.bar, self.start = None, time.perf_counter()

    def begin(self, epoch: int, steps: int) -> None:
        """Epoch ``epoch`` (0-based) starts, with ``steps`` steps to run."""
        self.start = time.perf_counter()
        if self.live:
            print(f"{self.label} {epoch + 1}/{self.epochs}")
            self.bar = keras.utils.Progbar(steps)

    def advance(self, done: int, logs: dict) -> None:
        """``done`` of the epoch's steps have run, with the running means ``logs`` (scalar tensors)."""
        if self.bar is not None:
            self.bar.update(done, [(key, log_value(logs[key])) for key in self.keys if key in logs])

    def end(self, epoch: int, logs: dict) -> None:
        """Epoch ``epoch`` ended whole, with ``logs``."""
        if self.verbose and not self.live:
            shown = " ".join(f"{key} {logs[key]:.{3 if key in LOSS_KEYS else 4}f}" for key in self.keys
                             if key in logs)
            print(f"{self.label} {epoch + 1}/{self.epochs} ({duration(time.perf_counter() - self.start)}): "
                  f"{shown}", flush=True)
