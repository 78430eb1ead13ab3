"""The resumable ELBO loop: the paper's Adam and step schedule, the partition warm-up, checkpoints.

``fit_vade`` trains a built, initialised VaDE for ``train.epochs``, resuming from the newest usable
checkpoint, so re-running after a crash continues the same trajectory batch for batch. Its epoch
loop is written out in it, top to bottom; ``train_steps`` runs Keras's compiled train function, which
pretraining runs too.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from vade_tf.config import Config
from vade_tf.console import EpochReport, log_value
from vade_tf.data import Dataset
from vade_tf.data.pipeline import epoch_batches, epoch_steps, execution_steps, inference_dataset
from vade_tf.distribute import replicated, worker_count
from vade_tf.evaluation import EpochScores
from vade_tf.inference import BATCH_SIZE
from vade_tf.model import VaDE
from vade_tf.resume import Checkpoints, TrainingState, checkpoint_identity
from vade_tf.summaries import EpochScalars
from vade_tf.timing import Stopwatch

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


def network_optimizer(model: VaDE, optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """``optimizer`` with dynamic loss scaling when ``model``'s hidden layers compute in float16, whose
    small gradients would otherwise underflow to zero; unchanged otherwise."""
    if model.hidden_dtype == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def start_posterior_width(model: VaDE, fraction: float) -> None:
    """Make q(z|x)'s variance start at ``fraction`` of the mixture's mean component variance (the
    log-variance head's kernel zeroed, its bias set). An untrained head says variance 1 whatever
    the latent's scale: beside tight clusters the first KL terms are thousands of nats, and their
    gradients through the shared layers tear the encoder away from the partition."""
    weights = tf.nn.softmax(model.prior.pi_logits)[:, tf.newaxis]                     # [K, 1]
    variance = tf.reduce_sum(weights * model.prior.variances(), axis=0)              # [J]
    head = model.encoder.log_var
    head.kernel.assign(tf.zeros_like(head.kernel))
    head.bias.assign(tf.math.log(fraction * variance))


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
    model.compile(optimizer=network_optimizer(model, keras.optimizers.Adam(schedule, epsilon=t.adam_epsilon)),
                  mixture_optimizer=mixture_optimizer,
                  warmup_steps=t.partition_warmup_epochs * steps_per_epoch if warmup else 0,
                  warmup_kl_weight=t.warmup_kl_weight, warmup_freezes_mixture=t.warmup_freezes_mixture,
                  release_steps=t.warmup_release_epochs * steps_per_epoch if warmup else 0,
                  jit_compile=t.jit_compile and not many,
                  steps_per_execution=execution)
    model.optimizer.build(model.network_variables if mixture_optimizer else model.trainable_variables)


def partition_log_gamma(partition: np.ndarray, n_clusters: int) -> np.ndarray:
    """log q(c|x) [N, K] of a hard partition, mixed with a 1e-6 share of the uniform so every log is
    finite. The share must be tiny: q(c|x) weighs each cluster's KL(q(z|x) || p(z|c)), and on tight
    data the KL to a far, thin cluster runs to thousands of nats."""
    floor = 1e-6
    return np.log((1 - floor) * np.eye(n_clusters)[partition] + floor / n_clusters).astype(np.float32)


def batch_iterator(model: keras.Model, batches: tf.data.Dataset):
    """An iterator over ``batches`` for ``train_steps``: as Keras's ``fit`` makes it, each replica
    of the distribution strategy reading its share of every batch. One iterator serves many epochs:
    one per epoch would stall at each epoch's end while its threads shut down."""
    if not isinstance(batches, tf.distribute.DistributedDataset):
        batches = model.distribute_strategy.experimental_distribute_dataset(batches)
    return iter(batches)


def train_steps(model: keras.Model, iterator, steps: int, after: Callable[[int, dict], None]) -> dict:
    """Run ``steps`` optimizer steps of ``model``'s compiled train function on ``iterator``'s batches,
    as Keras's ``fit`` runs them (``steps_per_execution`` at a time, XLA and the distribution
    strategy included), calling ``after(steps_done, logs)`` after each execution; returns the logs:
    the mean of each tracked term since ``model.reset_metrics()``, as scalar tensors."""
    model.make_train_function()
    done, logs = 0, {}
    while done < steps:
        logs = model.train_function(iterator)
        done = min(done + model.steps_per_execution, steps)
        after(done, logs)
    return logs


def epoch_blocks(first_epoch: int, skip: int, epochs: int, warmup_epochs: int) -> list[tuple[int, int, int]]:
    """(first, last, skip) of each run of epochs that reads one stream of batches: the rest of the
    epoch a checkpoint was taken in, the warm-up's epochs (their batches carry q(c|x)), the others."""
    blocks, epoch = [], first_epoch
    while epoch < epochs:
        last = epoch + 1 if skip else (min(warmup_epochs, epochs) if epoch < warmup_epochs else epochs)
        blocks.append((epoch, last, skip))
        epoch, skip = last, 0
    return blocks


def fit_vade(model: VaDE, data: Dataset, config: Config, seed: int, log_dir: Path,
             checkpoint_dir: Path, verbose: int, partition: Optional[np.ndarray] = None,
             stopwatch: Optional[Stopwatch] = None, evaluation: Optional[Dataset] = None,
             callbacks: Sequence[keras.callbacks.Callback] = ()) -> list[dict]:
    """Maximise the ELBO with the paper's Adam and step schedule.

    The whole loop is here, top to bottom. Each epoch runs its steps; during the first
    ``train.partition_warmup_epochs`` each batch carries the starting ``partition``'s q(c|x) in place
    of Eq. 16's (``VaDE.train_step``). After each execution of steps: stop at a non-finite loss or a
    signal, or save a checkpoint when one is due (``resume.Checkpoints``). After each epoch, in this
    order: its scores (``evaluation.EpochScores``: ACC/NMI/ARI with labels, ``partition_agreement``,
    ``evaluation``'s split), its record in the history, the callbacks, then the checkpoint, which
    saves the history with it.

    It resumes from the newest usable checkpoint in ``checkpoint_dir`` (weights, optimizer moments,
    RNG, the position inside an epoch), so re-running after a crash continues the same trajectory.
    The callbacks report what the loop did and change nothing it does, so their order does not
    matter: the printed line (``console.EpochReport``), the TensorBoard scalars
    (``summaries.EpochScalars``), then ``callbacks`` (Keras callbacks: the run's
    ``summaries.RunSummaries``, a test's probe). Keras's ``params`` give them ``epochs`` and
    ``steps`` per epoch; they hear of each epoch's begin and end, each execution's end (as
    ``on_train_batch_end`` of its last batch) and, when this call trained the last epoch, the end.

    Parameters
    ----------
    model : VaDE
        A built model, its prior set from the starting partition (``initialise.initialise``).
    data : Dataset
        The training data.
    config : Config
        The run's config: ``train.*`` sets the loop.
    seed : int
        Seeds the batches' order and the held-out rows.
    log_dir : Path
        TensorBoard's folder for the epoch scalars.
    checkpoint_dir : Path
        Where checkpoints are saved, and resumed from.
    verbose : int
        Print each epoch's line.
    partition : ndarray of shape (n_samples,), optional
        The starting partition: the warm-up's q(c|x) and ``partition_agreement``'s reference.
    stopwatch : Stopwatch, optional
        Gets the seconds of the steps, the scores, the summaries and the checkpoints.
    evaluation : Dataset, optional
        Another split, scored after every epoch.
    callbacks : sequence of keras.callbacks.Callback
        Told of the loop's progress, after the line and the scalars.

    Returns
    -------
    list of dict
        The history: one record per epoch, resumed ones included.

    Raises
    ------
    TrainingStopped
        After a SIGTERM or SIGINT (a checkpoint was saved) or at a non-finite loss.
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
        start_posterior_width(model, t.initial_posterior_variance)

    state = TrainingState(model, checkpoint_dir, checkpoint_identity(config, data.input_dim))
    record = state.restore_latest()
    first_epoch, skip, history = 0, 0, []
    if record is not None:
        first_epoch, skip, history = record["epoch"], record["batches_done"], record["history"]
        if verbose:
            print(f"resuming from {checkpoint_dir}: epoch {first_epoch + 1}, batch {skip}")
    # Several workers save in step with each other, so at epoch ends: their clocks would drift apart.
    checkpoints = Checkpoints(state, history, t.checkpoint_every_minutes if workers == 1 else 0.0,
                              t.checkpoint_every_steps)
    stopwatch = stopwatch or Stopwatch()
    scores = EpochScores(model, data.x, data.y, verbose, partition, evaluation, t.jit_compile) \
        if t.eval_every_epoch else None
    listeners = keras.callbacks.CallbackList(
        [EpochReport(verbose, "epoch", EPOCH_LINE_KEYS), EpochScalars(log_dir), *callbacks], model=model,
        epochs=t.epochs, steps=steps_per_epoch, verbose=verbose)
    validation = None if validation_x is None else inference_dataset(validation_x, BATCH_SIZE)

    def batches(first: int, last: int, skip: int, log_gamma: Optional[np.ndarray]) -> tf.data.Dataset:
        if workers == 1:
            return epoch_batches(train_x, batch_size, seed, first, last, skip, log_gamma=log_gamma)
        return strategy.distribute_datasets_from_function(lambda context: epoch_batches(
            train_x, batch_size, seed, first, last, skip, (context.input_pipeline_id, workers)))

    warmup_epochs = t.partition_warmup_epochs if warmup_gamma is not None else 0
    trains = first_epoch < t.epochs  # else a finished run, read back
    if trains:
        listeners.on_train_begin()
    with checkpoints.catching_signals():
        for first, last, skip in epoch_blocks(first_epoch, skip, t.epochs, warmup_epochs):
            iterator = batch_iterator(model, batches(first, last, skip,
                                                     warmup_gamma if first < warmup_epochs else None))
            for epoch in range(first, last):
                steps = steps_per_epoch - (skip if epoch == first else 0)
                learning_rate = float(model.optimizer.learning_rate)  # this epoch's
                model.reset_metrics()
                listeners.on_epoch_begin(epoch)

                def after(done: int, logs: dict, epoch=epoch, before=steps_per_epoch - steps) -> None:
                    loss = log_value(logs["loss"])
                    with stopwatch.phase("checkpoints"):
                        checkpoints.after_steps(epoch, before + done, steps_per_epoch, loss)
                    listeners.on_train_batch_end(before + done - 1, logs)

                start, saving = time.perf_counter(), stopwatch.seconds.get("checkpoints", 0.0)
                logs = {name: log_value(value) for name, value in
                        train_steps(model, iterator, steps, after).items()}
                # The steps themselves: what they took, less the checkpoints saved between them.
                stopwatch.add("training", time.perf_counter() - start
                              - (stopwatch.seconds.get("checkpoints", 0.0) - saving))
                if validation is not None:
                    held_out_logs = model.evaluate(validation, verbose=0, return_dict=True)
                    logs.update({f"val_{name}": float(value) for name, value in held_out_logs.items()})
                if scores is not None:
                    with stopwatch.phase("evaluation"):
                        logs.update(scores(epoch))
                history.append({"epoch": epoch + 1, "learning_rate": learning_rate, **logs})
                with stopwatch.phase("summaries"):
                    listeners.on_epoch_end(epoch, {**logs, "learning_rate": learning_rate})
                with stopwatch.phase("checkpoints"):
                    checkpoints.after_epoch(epoch, last=epoch + 1 == t.epochs)
    if trains:  # the end's pictures
        with stopwatch.phase("summaries"):
            listeners.on_train_end()
    return history
