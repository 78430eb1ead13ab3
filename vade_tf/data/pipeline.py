"""tf.data pipelines over in-memory arrays: seeded shuffle, batch, cache, prefetch."""
from __future__ import annotations

import numpy as np
import tensorflow as tf


def _mask(batch, seed, rate: float):
    """Masking noise: zero each entry with probability ``rate``, rescale the rest (dropout on the input)."""
    keep = tf.random.stateless_uniform(tf.shape(batch), seed=seed) >= rate
    return tf.where(keep, batch / (1.0 - rate), tf.zeros_like(batch))


def training_dataset(x: np.ndarray, batch_size: int, seed: int, targets: bool = False,
                     noise_rate: float = 0.0) -> tf.data.Dataset:
    """Batches of ``x`` reshuffled every epoch with a fixed seed.

    Keras ignores ``fit(shuffle=True)`` for a tf.data input, so shuffling lives here. The tensor is
    cached before shuffling so every epoch reads memory, not the NumPy array. With ``targets`` each
    element is ``(input, x)`` for a Keras-compiled autoencoder, where the input carries masking noise
    at ``noise_rate``. The noise is drawn here, with stateless per-batch seeds, rather than by a
    Dropout layer: random numbers inside an XLA-compiled CPU step cost about ten times the step.
    """
    ds = tf.data.Dataset.from_tensor_slices(x).cache()
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=len(x) >= batch_size)
    if targets and noise_rate > 0:
        batch_seeds = tf.data.Dataset.random(seed=seed).batch(2)
        ds = tf.data.Dataset.zip(ds, batch_seeds).map(
            lambda b, s: (_mask(b, s, noise_rate), b), num_parallel_calls=tf.data.AUTOTUNE)
    elif targets:
        ds = ds.map(lambda b: (b, b))
    return ds.prefetch(tf.data.AUTOTUNE)


def inference_dataset(x: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Batches in order, for encoding all samples deterministically."""
    return tf.data.Dataset.from_tensor_slices(x).batch(batch_size).prefetch(tf.data.AUTOTUNE)
