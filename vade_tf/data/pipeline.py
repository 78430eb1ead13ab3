"""tf.data pipelines over the features: seeded shuffle, batch, cache, prefetch.

Features are an in-memory array, a sparse matrix (``sparse.SparseRows``) or a streamed source
(``rcv1.ShardedFeatures``); all end up as the same batched, dense tf.data input, so training and
evaluation never ask which one they hold.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from vade_tf.data.dataset import in_memory
from vade_tf.data.sparse import SparseRows


def _mask(batch, seed, rate: float):
    """Masking noise: zero each entry with probability ``rate``, rescale the rest (dropout on the input)."""
    keep = tf.random.stateless_uniform(tf.shape(batch), seed=seed) >= rate
    return tf.where(keep, batch / (1.0 - rate), tf.zeros_like(batch))


def row_gatherer(x):
    """index [B] -> the dense rows [B, D] of in-memory features ``x``. A sparse matrix's rows are
    gathered as ragged (column, value) lists and scattered into a dense batch: only that batch is
    ever dense."""
    if not isinstance(x, SparseRows):
        rows = tf.constant(x)
        return lambda index: tf.gather(rows, index)
    matrix, width = x.matrix, x.shape[1]
    row_splits = tf.constant(matrix.indptr, tf.int64)
    columns = tf.RaggedTensor.from_row_splits(tf.constant(matrix.indices, tf.int64), row_splits)
    values = tf.RaggedTensor.from_row_splits(tf.constant(matrix.data, tf.float32), row_splits)

    def gather(index):
        batch_columns, batch_values = tf.gather(columns, index), tf.gather(values, index)
        positions = tf.stack([batch_columns.value_rowids(), batch_columns.flat_values], axis=1)
        shape = tf.stack([tf.shape(index, tf.int64)[0], tf.constant(width, tf.int64)])
        return tf.ensure_shape(tf.scatter_nd(positions, batch_values.flat_values, shape), [None, width])
    return gather


def batches(x, batch_size: int) -> tf.data.Dataset:
    """Batches of ``x`` in order."""
    if not in_memory(x):
        return x.batches(batch_size)
    return tf.data.Dataset.range(len(x)).batch(batch_size).map(row_gatherer(x))


def training_dataset(x, batch_size: int, seed: int, epochs: int, targets: bool = False,
                     noise_rate: float = 0.0) -> tf.data.Dataset:
    """Shuffled full batches of ``epochs`` epochs back to back (see ``epoch_batches``), for
    ``epoch_steps(x, batch_size)`` steps an epoch (``fit.train_steps``): one iterator for the whole
    training, where a dataset per epoch would stall at every epoch's end while its threads shut down.

    Shuffling lives here, in the data, not in the training loop. With ``targets``
    each element is ``(input, x)`` for a Keras-compiled autoencoder, where the input carries masking
    noise at ``noise_rate``. The noise is drawn here, with stateless per-batch seeds, rather than by a
    Dropout layer: random numbers inside an XLA-compiled CPU step cost about ten times the step.
    """
    ds = epoch_batches(x, batch_size, seed, 0, epochs)
    if targets and noise_rate > 0:
        batch_seeds = tf.data.Dataset.random(seed=seed).batch(2)
        ds = tf.data.Dataset.zip(ds, batch_seeds).map(
            lambda b, s: (_mask(b, s, noise_rate), b), num_parallel_calls=tf.data.AUTOTUNE)
    elif targets:
        ds = ds.map(lambda b: (b, b))
    return ds.prefetch(tf.data.AUTOTUNE)


def epoch_steps(x, batch_size: int, workers: int = 1) -> int:
    """Global batches in an epoch. Split across ``workers``, streamed features give each worker its
    own files, and an epoch is as many batches as the worker with the fewest rows can fill."""
    if not in_memory(x):
        return x.epoch_steps(batch_size, workers)
    return len(x) // batch_size


def execution_steps(steps_per_epoch: int, limit: int) -> int:
    """Steps per Keras execution: the largest divisor of the epoch up to ``limit``. Keras runs whole
    executions, and one that does not divide the epoch would run into the next epoch's batches."""
    limit = max(1, min(limit, steps_per_epoch))
    return max(d for d in range(1, limit + 1) if steps_per_epoch % d == 0)


def epoch_batches(x, batch_size: int, seed: int, first_epoch: int, last_epoch: int,
                  skip: int = 0, shard: tuple[int, int] = (0, 1),
                  log_gamma: Optional[np.ndarray] = None) -> tf.data.Dataset:
    """The batches of epochs first_epoch..last_epoch-1 back to back, ``epoch_steps`` an epoch.

    Each epoch's order is a pure function of (seed, epoch), so a run resumed at any batch sees the
    very batches an uninterrupted run would; ``skip`` drops the first batches of the first epoch.
    Rows are gathered from the array by index, so only indices are shuffled. With ``shard`` =
    (worker index, workers), each global batch is the one a single device would see, and this worker
    gets its slice of it (batch_size / workers rows). With ``log_gamma`` (log q(c|x), one row of K per
    sample), the batches are (x, log_gamma) pairs.
    """
    if not in_memory(x):
        if log_gamma is not None:
            raise ValueError("log_gamma needs in-memory features: streamed rows have no index to gather by")
        return x.epoch_batches(batch_size, seed, first_epoch, last_epoch, skip, shard)
    n, gather = len(x), row_gatherer(x)
    index, workers = shard
    steps = epoch_steps(x, batch_size)

    def one_epoch(epoch):
        noise = tf.random.stateless_uniform([n], seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        global_batches = tf.reshape(tf.argsort(noise)[:steps * batch_size], [steps, workers, -1])
        return tf.data.Dataset.from_tensor_slices(global_batches[:, index])

    ds = tf.data.Dataset.range(first_epoch, last_epoch).flat_map(one_epoch).skip(skip)
    if log_gamma is None:
        ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        gamma_rows = tf.constant(log_gamma, tf.float32)
        ds = ds.map(lambda index: (gather(index), tf.gather(gamma_rows, index)),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def inference_dataset(x, batch_size: int) -> tf.data.Dataset:
    """Batches in order, for encoding all samples deterministically."""
    return batches(x, batch_size).prefetch(tf.data.AUTOTUNE)
