"""Crash-safe training state: checkpoints that continue a run bit for bit.

A checkpoint holds the model, both optimizers (moments and step count), the state of the model's
random-number generator, and a JSON record of the position (epoch, batches done in it) and the
epochs' history. The TensorFlow checkpoint files are written first and the JSON record last, by a
rename, so a record exists only for a complete checkpoint; a kill at any moment leaves the previous
checkpoint usable. At start the newest record whose checkpoint restores is used; a corrupt or
partial one is reported and skipped.
"""
from __future__ import annotations

import json
import math
import signal
import time
from pathlib import Path
from typing import Optional

import keras
import tensorflow as tf

from vade_tf import files, rundir
from vade_tf.errors import ConfigError, TrainingStopped

KEEP = 2  # the newest two: if the last turns out unreadable, the one before it still is


class TrainingState:
    """The checkpoints of one training run in ``directory`` (``ckpt-<step>.*`` plus ``ckpt-<step>.json``)."""

    def __init__(self, model, directory: Path, identity: dict):
        self.directory = Path(directory)
        self.identity = identity  # what must match to resume: input size, config digest
        objects = {"model": model, "optimizer": model.optimizer, "rng": model.noise.state}
        if model.mixture_optimizer is not None:
            objects["mixture_optimizer"] = model.mixture_optimizer
        self.checkpoint = tf.train.Checkpoint(**objects)
        self.model = model

    def _records(self) -> list[Path]:
        records = self.directory.glob("ckpt-*.json")
        return sorted(records, key=lambda p: int(p.stem.split("-")[1]), reverse=True)

    def save(self, epoch: int, batches_done: int, history: list[dict]) -> Path:
        """Checkpoint now: after ``batches_done`` batches of epoch ``epoch`` (0 = at its start)."""
        step = int(self.model.optimizer.iterations.numpy())
        prefix = self.directory / f"ckpt-{step}"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.checkpoint.write(str(prefix))
        files.write_json(prefix.with_suffix(".json"), {
            "epoch": epoch, "batches_done": batches_done, "step": step, "history": history,
            **self.identity})
        for old in self._records()[KEEP:]:
            for path in self.directory.glob(f"{old.stem}.*"):
                path.unlink(missing_ok=True)
        return prefix

    def restore_latest(self, warn=print) -> Optional[dict]:
        """Restore the newest usable checkpoint and return its record, or None when there is none."""
        for record_path in self._records():
            try:
                record = json.loads(record_path.read_text())
                self.checkpoint.read(str(record_path.with_suffix(""))).assert_existing_objects_matched()
            except Exception as e:  # noqa: BLE001 - any failure to read means: not usable, try the previous
                warn(f"warning: checkpoint {record_path.with_suffix('')} is corrupt or partial "
                     f"({type(e).__name__}); trying the one before it")
                continue
            return record
        return None


def checkpoint_identity(config, input_dim: int) -> dict:
    """What a checkpoint records about its run, and what a run must match to resume from it."""
    return {"input_dim": input_dim, "config": rundir.training_digest(config)}


def check_resumable(directory: Path, identity: dict) -> None:
    """Refuse, before any work, to resume checkpoints that another config or dataset produced."""
    for record_path in sorted(Path(directory).glob("ckpt-*.json")):
        try:
            record = json.loads(record_path.read_text())
        except json.JSONDecodeError:
            continue  # reported, and skipped, when restoring
        if {k: record.get(k) for k in identity} != identity:
            raise ConfigError(f"{directory} holds a checkpoint of another config or data (input size "
                              f"{record.get('input_dim')}, this data {identity['input_dim']}); resume with "
                              "the same config, or pass a new --run-dir")


class Checkpointer(keras.callbacks.Callback):
    """Saves a checkpoint when ``every_minutes`` have passed since the last (0: at every epoch's end),
    every ``every_steps`` optimizer steps when > 0, and at the end of the last of ``epochs``; on
    SIGTERM or SIGINT saves one where it is and stops (at an epoch's last batch: at its end, with its
    history); at the first non-finite loss stops without saving, so the last good checkpoint stays
    the newest. Comes last: after the callback that fills ``history``, and after the summaries of an
    epoch that a signal ends."""

    def __init__(self, state: TrainingState, history: list, epochs: int, steps_per_epoch: int,
                 every_minutes: float, every_steps: int, batches_done: int = 0):
        super().__init__()
        self.state, self.history, self.epochs = state, history, epochs
        self.every_seconds, self.every_steps = 60 * every_minutes, every_steps
        self.steps_per_epoch, self.first_batches_done = steps_per_epoch, batches_done
        self.stopped: Optional[TrainingStopped] = None
        self.signal: Optional[int] = None
        self.last_save, self.last_save_time = None, time.monotonic()
        self.previous_handlers: dict = {}

    def _save(self, epoch: int, batches_done: int) -> None:
        self.state.save(epoch, batches_done, self.history)
        self.last_save, self.last_save_time = self._iterations(), time.monotonic()

    def _clock_due(self) -> bool:
        return self.every_seconds > 0 and time.monotonic() - self.last_save_time >= self.every_seconds

    def _iterations(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def on_train_begin(self, logs=None):
        def request_stop(signum, frame):
            self.signal = signum
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.previous_handlers[signum] = signal.signal(signum, request_stop)

    def on_train_end(self, logs=None):
        for signum, handler in self.previous_handlers.items():
            signal.signal(signum, handler)

    def on_epoch_begin(self, epoch, logs=None):
        if self.last_save is None:
            self.last_save = self._iterations()
        self.epoch, self.epoch_start = epoch, self._iterations() - self.first_batches_done
        self.first_batches_done = 0  # only the first epoch of a resumed run starts part-way

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        done = self._iterations() - self.epoch_start
        if loss is not None and not math.isfinite(float(loss)):
            self.stopped = TrainingStopped(
                f"non-finite loss ({float(loss)}) in epoch {self.epoch + 1} by batch {done}; the last good "
                "checkpoint is kept; lower train.learning_rate, or check the data for extreme values", 3)
        elif done == self.steps_per_epoch:
            pass  # an epoch's last batch: its end, with the epoch's history, is on_epoch_end's
        elif self.signal is not None:
            self._stop_for_signal(self.epoch, done, f"in epoch {self.epoch + 1} after batch {done}")
        elif self._clock_due() or (self.every_steps and
                                   self._iterations() - self.last_save >= self.every_steps):
            self._save(self.epoch, done)
        if self.stopped is not None:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped is not None:
            return
        if self.signal is not None:
            self._stop_for_signal(epoch + 1, 0, f"at the end of epoch {epoch + 1}")
            self.model.stop_training = True
        elif epoch + 1 == self.epochs or not self.every_seconds or self._clock_due():
            self._save(epoch + 1, 0)

    def _stop_for_signal(self, epoch: int, batches_done: int, where: str) -> None:
        self._save(epoch, batches_done)
        self.stopped = TrainingStopped(f"stopped by {signal.Signals(self.signal).name} {where}; checkpoint "
                                       "saved: re-run the same command to resume", 128 + self.signal)
