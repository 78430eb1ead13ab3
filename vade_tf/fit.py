"""The resumable ELBO loop: the paper's Adam and step schedule, the partition warm-up, checkpoints.

``fit_vade`` trains a built, initialised VaDE for ``train.epochs``, resuming from the newest usable
checkpoint, so re-running after a crash continues the same trajectory batch for batch.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from vade_tf.callbacks import ClusteringMetrics
from vade_tf.config import Config
from vade_tf.console import epoch_lines, keras_verbosity
from vade_tf.data import Dataset
from vade_tf.data.pipeline import epoch_batches, epoch_steps, execution_steps, inference_dataset
from vade_tf.distribute import replicated, worker_count
from vade_tf.inference import BATCH_SIZE
from vade_tf.model import VaDE
from vade_tf.resume import Checkpointer, TrainingState, checkpoint_identity
from vade_tf.timing import Stopwatch, TimedCallback

# What each epoch's line shows (those its logs hold): the ELBO and its terms, then the scores.
EPOCH_LINE_KEYS = ("elbo", "reconstruction", "kl_z", "kl_c", "acc", "nmi", "ari", "partition_agreement",
                   "evaluation_acc", "evaluation_nmi")


class StaircaseDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr * decay ** floor(epoch / decay_epochs), floored at ``floor`` (the paper's step schedule)."""

    def __init__(self, initial: float, decay: float, decay_epochs: int, steps_per_epoch: int,
                 floor: float = 0.0):
        self.initial, self.decay, self.decay_epochs = float(initial), float(decay), int(decay_epochs)
        self.steps_per_epoch, self.floor = int(steps_per_epoch), float(floor)

    def __call__(self, step):
        epoch = tf.math.floordiv(tf.cast(step, tf.int64), self.steps_per_epoch)
        exponent = tf.cast(tf.math.floordiv(epoch, self.decay_epochs), tf.float32)
        return tf.maximum(self.initial * tf.pow(self.decay, exponent), self.floor)

    def get_config(self):
        return {"initial": self.initial, "decay": self.decay, "decay_epochs": self.decay_epochs,
                "steps_per_epoch": self.steps_per_epoch, "floor": self.floor}


def learning_rate_schedules(t, steps_per_epoch: int) -> tuple[StaircaseDecay, Optional[StaircaseDecay]]:
    """The network's staircase schedule and, with ``mixture_learning_rate``, the mixture's: the same
    staircase scaled by mixture_learning_rate / learning_rate, so the floor never lifts it above its start."""
    network = StaircaseDecay(t.learning_rate, t.lr_decay, t.lr_decay_epochs, steps_per_epoch, t.lr_floor)
    if t.mixture_learning_rate is None:
        return network, None
    scale = t.mixture_learning_rate / t.learning_rate
    return network, StaircaseDecay(t.mixture_learning_rate, t.lr_decay, t.lr_decay_epochs, steps_per_epoch,
                                   t.lr_floor * scale)


def held_out_rows(data: Dataset, fraction: float, seed: int) -> Optional[np.ndarray]:
    """A seeded mask of the samples held out of training for validation curves, or None for none."""
    if fraction == 0.0:
        return None
    held_out = np.random.default_rng(seed).permutation(len(data.x))[:max(1, round(fraction * len(data.x)))]
    mask = np.zeros(len(data.x), bool)
    mask[held_out] = True
    return mask


def compile_for_training(model: VaDE, config: Config, steps_per_epoch: int, warmup: bool = True) -> None:
    """Adam on the paper's schedule (and the mixture's own, when configured), optimizer variables built,
    so a checkpoint can be restored into them before the first step. ``warmup``: whether the partition
    warm-up's steps (KL weight, frozen mixture) apply; not without a partition to warm up to."""
    t = config.train
    schedule, mixture_schedule = learning_rate_schedules(t, steps_per_epoch)
    mixture_optimizer = None
    if mixture_schedule is not None:
        mixture_optimizer = keras.optimizers.Adam(mixture_schedule, epsilon=t.adam_epsilon)
    many = replicated()
    execution = execution_steps(steps_per_epoch, 1 if many else t.steps_per_execution)
    model.compile(optimizer=model.network_optimizer(keras.optimizers.Adam(schedule, epsilon=t.adam_epsilon)),
                  mixture_optimizer=mixture_optimizer,
                  warmup_steps=t.partition_warmup_epochs * steps_per_epoch if warmup else 0,
                  warmup_kl_weight=t.warmup_kl_weight, warmup_freezes_mixture=t.warmup_freezes_mixture,
                  release_steps=t.warmup_release_epochs * steps_per_epoch if warmup else 0,
                  jit_compile=t.jit_compile and not many,
                  steps_per_execution=execution)
    model.optimizer.build(model.network_variables if mixture_optimizer else model.trainable_variables)


class EpochHistory(keras.callbacks.Callback):
    """Keeps every epoch's logs (losses and metrics) as plain floats for metrics.json."""

    def __init__(self):
        super().__init__()
        self.epochs: list[dict] = []
        self.learning_rate = float("nan")

    def on_epoch_begin(self, epoch, logs=None):
        self.learning_rate = float(np.asarray(self.model.optimizer.learning_rate))  # this epoch's

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append({"epoch": epoch + 1, "learning_rate": self.learning_rate,
                            **{k: float(v) for k, v in (logs or {}).items()}})


def partition_log_gamma(partition: np.ndarray, n_clusters: int) -> np.ndarray:
    """log q(c|x) [N, K] of a hard partition, mixed with a 1e-6 share of the uniform so every log is
    finite. The share must be tiny: q(c|x) weighs each cluster's KL(q(z|x) || p(z|c)), and on tight
    data the KL to a far, thin cluster runs to thousands of nats."""
    floor = 1e-6
    return np.log((1 - floor) * np.eye(n_clusters)[partition] + floor / n_clusters).astype(np.float32)


def fit_vade(model: VaDE, data: Dataset, config: Config, seed: int, log_dir: Path,
             checkpoint_dir: Path, verbose: int,
             callbacks: Sequence[keras.callbacks.Callback] = (),
             partition: Optional[np.ndarray] = None, stopwatch: Optional[Stopwatch] = None,
             evaluation: Optional[Dataset] = None) -> list[dict]:
    """Maximise the ELBO with the paper's Adam and step schedule; returns the per-epoch history.

    Resumes from the newest usable checkpoint in ``checkpoint_dir`` (weights, optimizer moments,
    RNG, the position inside an epoch), so re-running after a crash continues the same trajectory.
    ``partition`` (the starting cluster of each sample) feeds ``train.partition_warmup_epochs`` and
    each epoch's ``partition_agreement``; ``evaluation`` (another split, with labels) is scored each
    epoch beside the trained-on samples.
    Raises ``TrainingStopped`` after a SIGTERM/SIGINT (a checkpoint was saved) or a non-finite loss.
    The console shows Keras's progress bar when it is a terminal (one line an epoch otherwise), then
    one summary line with ACC when labels exist.
    """
    t = config.train
    held_out = held_out_rows(data, t.validation_fraction, seed)
    train_x, validation_x = (data.x, None) if held_out is None else (data.x[~held_out], data.x[held_out])
    warmup_gamma = None
    if t.partition_warmup_epochs and partition is not None:
        warmup_gamma = partition_log_gamma(partition if held_out is None else partition[~held_out],
                                           model.n_clusters)
    batch_size = min(t.batch_size, len(train_x))
    strategy = tf.distribute.get_strategy()
    workers = worker_count(strategy)
    steps_per_epoch = epoch_steps(train_x, batch_size, workers)
    compile_for_training(model, config, steps_per_epoch, warmup=warmup_gamma is not None)
    if t.initial_posterior_variance is not None:  # before a checkpoint, if any, is restored over it
        model.start_posterior_width(t.initial_posterior_variance)

    state = TrainingState(model, checkpoint_dir, checkpoint_identity(config, data.input_dim))
    record = state.restore_latest()
    first_epoch, batches_done, history = 0, 0, EpochHistory()
    if record is not None:
        first_epoch, batches_done = record["epoch"], record["batches_done"]
        history.epochs = record["history"]
        if verbose:
            print(f"resuming from {checkpoint_dir}: epoch {first_epoch + 1}, batch {batches_done}")
    # Several workers save in step with each other, so at epoch ends: their clocks would drift apart.
    every_minutes = t.checkpoint_every_minutes if workers == 1 else 0.0
    checkpointer = Checkpointer(state, history.epochs, t.epochs, steps_per_epoch, every_minutes,
                                t.checkpoint_every_steps, batches_done)
    stopwatch = stopwatch or Stopwatch()

    def timed(callback: keras.callbacks.Callback, phase: str) -> TimedCallback:
        return TimedCallback(callback, stopwatch, phase)

    all_callbacks = []
    if t.eval_every_epoch:
        scores = ClusteringMetrics(data.x, data.y, verbose, partition, evaluation, t.jit_compile)
        all_callbacks.append(timed(scores, "evaluation"))
    all_callbacks += [history, *epoch_lines(verbose, "epoch", t.epochs, EPOCH_LINE_KEYS),
                      timed(keras.callbacks.TensorBoard(log_dir=str(log_dir)), "summaries"),
                      *(timed(callback, "summaries") for callback in callbacks),
                      timed(checkpointer, "checkpoints")]
    progress = keras_verbosity(verbose)
    validation = None if validation_x is None else inference_dataset(validation_x, BATCH_SIZE)

    def batches(first: int, last: int, skip: int, log_gamma: Optional[np.ndarray]):
        if workers == 1:
            return epoch_batches(train_x, batch_size, seed, first, last, skip, log_gamma=log_gamma)
        return strategy.distribute_datasets_from_function(lambda context: epoch_batches(
            train_x, batch_size, seed, first, last, skip, (context.input_pipeline_id, workers)))

    def callback_seconds() -> float:
        return sum(stopwatch.seconds.get(phase, 0.0) for phase in ("evaluation", "checkpoints", "summaries"))

    def fit(first: int, last: int, skip: int, log_gamma: Optional[np.ndarray]) -> None:
        start, before = time.perf_counter(), callback_seconds()
        model.fit(batches(first, last, skip, log_gamma), validation_data=validation,
                  initial_epoch=first, epochs=last, steps_per_epoch=steps_per_epoch - skip,
                  callbacks=all_callbacks, shuffle=False, verbose=progress)
        # The steps themselves (and Keras's loop): what fit took, less what the callbacks took.
        stopwatch.add("training", time.perf_counter() - start - (callback_seconds() - before))

    # The warm-up's epochs read (x, the partition's q(c|x)) in one fit, the rest x alone (Eq. 16's
    # gamma in the step); a resumed run first finishes the epoch its checkpoint was taken in.
    epoch, skip = first_epoch, batches_done
    while checkpointer.stopped is None and epoch < t.epochs:
        warming_up = warmup_gamma is not None and epoch < t.partition_warmup_epochs
        last = epoch + 1 if skip else (min(t.partition_warmup_epochs, t.epochs) if warming_up else t.epochs)
        fit(epoch, last, skip, warmup_gamma if warming_up else None)
        epoch, skip = last, 0
    if checkpointer.stopped is not None:
        raise checkpointer.stopped
    return history.epochs
