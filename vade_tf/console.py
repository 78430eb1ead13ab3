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


class EpochReport(keras.callbacks.Callback):
    """``<label> <epoch>/<epochs> (<duration>): key value ...`` of the ``keys`` an epoch's logs hold,
    printed when it ends; on a terminal, Keras's live bar of its steps instead. Silent unless
    ``verbose``. A Keras callback: the loop's ``params`` give ``epochs`` and ``steps`` (per epoch)."""

    def __init__(self, verbose: int, label: str, keys: Sequence[str]):
        super().__init__()
        self.verbose, self.label, self.keys = verbose, label, keys
        self.live = bool(verbose) and sys.stdout.isatty()
        self.bar, self.start = None, time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.start = time.perf_counter()
        if self.live:
            print(f"{self.label} {epoch + 1}/{self.params['epochs']}")
            self.bar = keras.utils.Progbar(self.params["steps"])

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if self.bar is not None:  # logs: the epoch's running means, as scalar tensors
            self.bar.update(batch + 1, [(key, log_value(logs[key])) for key in self.keys if key in logs])

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self.verbose and not self.live:
            shown = " ".join(f"{key} {logs[key]:.{3 if key in LOSS_KEYS else 4}f}" for key in self.keys
                             if key in logs)
            print(f"{self.label} {epoch + 1}/{self.params['epochs']} "
                  f"({duration(time.perf_counter() - self.start)}): {shown}", flush=True)
