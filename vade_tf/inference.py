"""One batched pass of a model over every sample: encoder means, cluster assignments, a layer's codes.

Batch by batch in this process, keeping only what is asked for (not Keras's ``predict``, which holds
[N, K] probabilities and, across workers, gathers rows out of their order); each function is traced
(and, as ``train.jit_compile`` says, XLA-compiled) once per pass-maker, so a caller that calls it
every epoch compiles it once.
"""
from __future__ import annotations

import json
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from vade_tf.data.pipeline import inference_dataset

BATCH_SIZE = 2048


def batched(function: Callable, jit_compile: bool = True,
            batch_size: int = BATCH_SIZE) -> Callable[..., np.ndarray]:
    """x (an array or streamed features) -> ``function`` of each batch, compiled once, joined as one
    array. XLA pays for its compile on many batches; a small run's few passes are quicker without it."""
    compiled = tf.function(function, jit_compile=jit_compile)
    return lambda x: np.concatenate([compiled(batch).numpy() for batch in inference_dataset(x, batch_size)])


def cluster_probabilities(model, jit_compile: bool = True) -> Callable[..., np.ndarray]:
    """x -> gamma = p(c | z = E[z|x]) [N, K]: the probabilities behind the assignment."""
    return batched(lambda batch: model(batch), jit_compile)


def cluster_assigner(model, jit_compile: bool = True) -> Callable[..., np.ndarray]:
    """x -> argmax_c p(c | z = E[z|x]) [N]: the model's deterministic assignment."""
    return batched(lambda batch: tf.argmax(model(batch), axis=1), jit_compile)


def assign_clusters(model, x, jit_compile: bool = True) -> np.ndarray:
    return cluster_assigner(model, jit_compile)(x)


def mean_encoder(model, jit_compile: bool = True) -> Callable[..., np.ndarray]:
    """x -> E[z|x] [N, J]."""
    return batched(lambda batch: model.encode(batch)[0], jit_compile)


def encode_means(model, x, jit_compile: bool = True) -> np.ndarray:
    return mean_encoder(model, jit_compile)(x)


class TrainedModel:
    """A trained VaDE with its compiled batched passes (cluster probabilities, latent means); pickled
    as its config and weights, so what holds it (the estimator) pickles without TensorFlow's graphs."""

    def __init__(self, model, jit_compile: bool):
        self.model, self.jit_compile = model, jit_compile
        self.probabilities = cluster_probabilities(model, jit_compile)
        self.latent_means = mean_encoder(model, jit_compile)

    def sample(self, n_samples: int, cluster: Optional[int], weights: np.ndarray,
               rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        """``n_samples`` rows by the generative process, and their clusters: all ``cluster``, or
        drawn from ``weights`` (pi); ``rng`` draws the clusters and the seed of z and x."""
        if int(n_samples) != n_samples or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        if cluster is not None and not (int(cluster) == cluster and 0 <= cluster < len(weights)):
            raise ValueError(f"cluster must be in 0..{len(weights) - 1} or None, got {cluster!r}")
        clusters = np.full(n_samples, cluster, np.int64) if cluster is not None else \
            rng.choice(len(weights), size=n_samples, p=weights).astype(np.int64)
        drawn = self.model.generate(tf.constant(clusters), tf.constant(rng.randint(2**31), tf.int64))
        return drawn["x"].numpy(), clusters

    def __reduce__(self):
        spec = json.loads(json.dumps(self.model.get_config()))  # plain lists, not Keras's tracked ones
        return _rebuild, (spec, self.model.get_weights(), self.jit_compile)


def _rebuild(spec: dict, weights: list, jit_compile: bool) -> TrainedModel:
    from vade_tf.model import VaDE

    model = VaDE.from_config(spec)
    model.build((None, model.input_dim))
    model.set_weights(weights)
    return TrainedModel(model, jit_compile)
