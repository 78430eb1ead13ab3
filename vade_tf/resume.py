"""Crash-safe training state: checkpoints that continue a run bit for bit.

A checkpoint holds the model, both optimizers (moments and step count), the state of the model's
random-number generator, and a JSON record of the position (epoch, batches done in it) and the
epochs' history. The TensorFlow checkpoint files are written first and the JSON record last, by a
rename, so a record exists only for a complete checkpoint; a kill at any moment leaves the previous
checkpoint usable. At start the newest record whose checkpoint restores is used; a corrupt or
partial one is reported and skipped.
"""
from __future__ import annotations

import contextlib
import json
import math
import signal
import time
from pathlib import Path
from typing import Optional

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


class Checkpoints:
    """When a training loop saves its ``TrainingState`` and when it stops. It saves when
    ``every_minutes`` have passed since the last save (0: at every epoch's end), every ``every_steps``
    optimizer steps when > 0, and at the end of the last epoch; on SIGTERM or SIGINT it saves where
    the loop is and stops it (at an epoch's last step: at that epoch's end, with its history); at the
    first non-finite loss it stops without saving, so the last good checkpoint stays the newest.
    ``history`` is the loop's list of epoch records, saved with each checkpoint."""

    def __init__(self, state: TrainingState, history: list, every_minutes: float, every_steps: int):
        self.state, self.history = state, history
        self.every_seconds, self.every_steps = 60 * every_minutes, every_steps
        self.signal: Optional[int] = None
        self.last_save, self.last_save_time = self._iterations(), time.monotonic()

    @contextlib.contextmanager
    def catching_signals(self):
        """While the loop runs, SIGTERM and SIGINT only ask it to stop at its next check."""
        def request_stop(signum, frame):
            self.signal = signum
        previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def after_steps(self, epoch: int, done: int, steps_per_epoch: int, loss: float) -> None:
        """After steps that left epoch ``epoch`` (0-based) ``done`` steps in, with the epoch's mean
        ``loss`` so far: stop at a non-finite loss or a signal, else save when one is due. At the
        epoch's last step the epoch's end decides (``after_epoch``)."""
        if not math.isfinite(loss):
            raise TrainingStopped(
                f"non-finite loss ({loss}) in epoch {epoch + 1} by batch {done}; the last good checkpoint "
                "is kept; lower train.learning_rate, or check the data for extreme values", 3)
        if done == steps_per_epoch:
            return
        if self.signal is not None:
            self._stop_for_signal(epoch, done, f"in epoch {epoch + 1} after batch {done}")
        steps_due = self.every_steps and self._iterations() - self.last_save >= self.every_steps
        if self._clock_due() or steps_due:
            self._save(epoch, done)

    def after_epoch(self, epoch: int, last: bool) -> None:
        """After epoch ``epoch`` (0-based) ended and was recorded: stop at a signal, saving its end;
        else save when it is the ``last`` epoch, at every epoch (``every_minutes`` 0) or when due."""
        if self.signal is not None:
            self._stop_for_signal(epoch + 1, 0, f"at the end of epoch {epoch + 1}")
        if last or not self.every_seconds or self._clock_due():
            self._save(epoch + 1, 0)

    def _save(self, epoch: int, batches_done: int) -> None:
        self.state.save(epoch, batches_done, self.history)
        self.last_save, self.last_save_time = self._iterations(), time.monotonic()

    def _clock_due(self) -> bool:
        return self.every_seconds > 0 and time.monotonic() - self.last_save_time >= self.every_seconds

    def _iterations(self) -> int:
        return int(self.state.model.optimizer.iterations.numpy())

    def _stop_for_signal(self, epoch: int, batches_done: int, where: str) -> None:
        self._save(epoch, batches_done)
        raise TrainingStopped(f"stopped by {signal.Signals(self.signal).name} {where}; checkpoint saved: "
                              "re-run the same command to resume", 128 + self.signal)
