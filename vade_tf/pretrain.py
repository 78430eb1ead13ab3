"""Autoencoder pretraining of f and g, then a GMM on the latent means to initialise the prior.

The paper pretrains with a stacked autoencoder and fits a GMM on the latent; the authors never
released that code, and weak pretraining is why most reimplementations stall at 57-81% on MNIST.
The default here is DEC's recipe: greedy layer-wise denoising autoencoders (masking noise on each
layer's input), then end-to-end fine-tuning, then a GaussianMixture with several inits
(diagonal, or full with its diagonals kept: ``pretrain.gmm_covariance``), or spectral clustering
of the latent's neighbour graph whose clusters' moments set the prior (``pretrain.mixture_init``).
At the short schedules a 2-core CPU affords, plain end-to-end pretraining followed by the spectral
partition measured best on MNIST (results/init-mnist-spectral.json), and is what configs/mnist.json
uses: a full GMM's partition of the same latents ranged from ACC 0.71 to 0.95 with the seeds.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
from sklearn.cluster import KMeans
from sklearn.manifold import SpectralEmbedding
from sklearn.mixture import GaussianMixture

from vade_tf import elbo
from vade_tf.data.pipeline import epoch_steps, execution_steps, inference_dataset, training_dataset
from vade_tf.model import VaDE

ENCODE_BATCH = 2048


def _reconstruction_loss(likelihood: str, output_dim: int):
    """Negative log p(x | x_params): cross-entropy for Bernoulli, unit-variance squared error for Gaussian."""
    def loss(x, x_params):
        if likelihood == "bernoulli":
            return -elbo.reconstruction_log_prob(x, x_params, likelihood)
        return 0.5 * tf.reduce_sum(tf.square(x - x_params[..., :output_dim]), -1)
    return loss


def _squared_error(x, x_hat):
    return 0.5 * tf.reduce_sum(tf.square(x - x_hat), -1)


def _fit(model: VaDE, autoencoder: keras.Model, x: np.ndarray, loss, epochs: int, noise_rate: float,
         config, seed: int, tag: str, verbose: int, log_dir: Optional[Path] = None,
         jit_compile: bool = True) -> list[float]:
    batch_size = min(config.batch_size, len(x))
    optimizer = model.network_optimizer(keras.optimizers.Adam(config.learning_rate))
    # Under tf.distribute (see train.strategy) one step per execution and no XLA: Keras's multi-step
    # loop and XLA both fail on mirrored replicas.
    distributed, steps = tf.distribute.has_strategy(), epoch_steps(x, batch_size)
    autoencoder.compile(optimizer=optimizer, loss=loss, jit_compile=jit_compile and not distributed,
                        steps_per_execution=execution_steps(steps, 1 if distributed else 50))
    data = training_dataset(x, batch_size, seed, epochs, targets=True, noise_rate=noise_rate)
    if verbose:
        print(f"pretraining {tag}: {epochs} epochs")
    callbacks = [] if log_dir is None else [keras.callbacks.TensorBoard(str(log_dir / tag.replace(" ", "_")))]
    history = autoencoder.fit(data, epochs=epochs, steps_per_epoch=steps, shuffle=False,
                              verbose=2 if verbose else 0, callbacks=callbacks)
    return [float(v) for v in history.history.get("loss", [])]


def _layer_pairs(model: VaDE) -> list[tuple[keras.layers.Layer, keras.layers.Layer]]:
    """(encoder layer k, its mirror decoder layer), outermost first: (D->h1, h1->D'), ..., (h->J, J->h)."""
    encoder_layers = model.encoder.hidden + [model.encoder.mean]
    decoder_layers = model.decoder.hidden + [model.decoder.out]
    return list(zip(encoder_layers, reversed(decoder_layers)))


def _encode_layer(layer: keras.layers.Layer, h: np.ndarray) -> np.ndarray:
    apply = tf.function(layer, jit_compile=True)
    codes = [apply(batch).numpy() for batch in inference_dataset(h, ENCODE_BATCH)]
    return np.concatenate(codes).astype(np.float32)  # half precision under mixed_precision


def pretrain_stacked(model: VaDE, x: np.ndarray, config, seed: int, verbose: int = 0,
                     log_dir: Optional[Path] = None, jit_compile: bool = True) -> dict:
    """Greedy layer-wise denoising autoencoders, each reconstructing its clean input from a masked copy."""
    losses = {}
    h = x
    for k, (encode, decode) in enumerate(_layer_pairs(model)):
        inputs = keras.Input((h.shape[1],))
        outputs = decode(encode(inputs))
        loss = (_reconstruction_loss(model.likelihood, model.input_dim) if k == 0 else _squared_error)
        losses[f"layer_{k}"] = _fit(model, keras.Model(inputs, outputs), h, loss, config.layer_epochs,
                                    config.noise_rate, config, seed + k, f"layer {k}", verbose, log_dir,
                                    jit_compile)
        h = _encode_layer(encode, h)
    return losses


def pretrain_end_to_end(model: VaDE, x: np.ndarray, config, seed: int, noise_rate: float,
                        verbose: int = 0, log_dir: Optional[Path] = None,
                        jit_compile: bool = True) -> list[float]:
    """Train encoder mean -> decoder as one autoencoder on the reconstruction loss."""
    inputs = keras.Input((model.input_dim,))
    # The mean path only: the log-variance head has no autoencoder role.
    autoencoder = keras.Model(inputs, model.decoder(model.encoder.mean(model.encoder.features(inputs))))
    loss = _reconstruction_loss(model.likelihood, model.input_dim)
    return _fit(model, autoencoder, x, loss, config.epochs, noise_rate, config, seed, "end-to-end", verbose,
                log_dir, jit_compile)


def encode_means(model: VaDE, x: np.ndarray) -> np.ndarray:
    """E[z|x] for every sample, in batches (bounded memory)."""
    encode = tf.function(lambda b: model.encoder(b)[0], jit_compile=True)
    return np.concatenate([encode(batch).numpy() for batch in inference_dataset(x, ENCODE_BATCH)])


def gaussian_mixture(features: np.ndarray, n_clusters: int, n_init: int, seed: int,
                     covariance: str = "diag") -> GaussianMixture:
    """A GaussianMixture fitted on ``features`` [N, D]: the best likelihood of ``n_init`` seeded EM runs
    (the paper's restarts-pick-the-best-objective protocol for every clustering model). It computes in
    the features' precision: float32 halves the time on MNIST's pixels (14 s an init, not 28)."""
    return GaussianMixture(n_components=n_clusters, covariance_type=covariance, n_init=n_init,
                           random_state=seed, reg_covar=1e-6, max_iter=300).fit(features)


def fit_mixture(z: np.ndarray, n_clusters: int, n_init: int, seed: int,
                covariance: str = "diag") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A GaussianMixture on the latent means (see ``gaussian_mixture``).

    Returns (weights [K], means [K, J], covariances: variances [K, J] for "diag", matrices [K, J, J]
    for "full", hard assignments [N]).
    """
    z = z.astype(np.float64)  # 10 dimensions: precision is cheap here
    gmm = gaussian_mixture(z, n_clusters, n_init, seed, covariance)
    return gmm.weights_, gmm.means_, gmm.covariances_, gmm.predict(z)


def spectral_partition(z: np.ndarray, n_clusters: int, n_neighbors: int, n_init: int,
                       seed: int) -> np.ndarray:
    """Spectral clustering of the latent means: a hard cluster for every sample.

    The clusters of a pretrained latent are curved and touch at their tips; a k-nearest-neighbour
    graph follows them where Gaussians cannot. Embedding by LOBPCG (seconds for 70,000 points, where
    ARPACK's shift-invert took minutes), rows scaled to unit length (Ng, Jordan and Weiss), k-means.
    """
    embedding = SpectralEmbedding(n_components=n_clusters, affinity="nearest_neighbors",
                                  n_neighbors=n_neighbors, eigen_solver="lobpcg",
                                  random_state=seed).fit_transform(z.astype(np.float64))
    embedding /= np.maximum(np.linalg.norm(embedding, axis=1, keepdims=True), 1e-12)
    return KMeans(n_clusters, n_init=n_init, random_state=seed).fit_predict(embedding)


def umap_partition(z: np.ndarray, n_clusters: int, n_neighbors: int, n_init: int, seed: int) -> np.ndarray:
    """N2D's partition (McConville et al., 2021): UMAP of the latent means into ``n_clusters``
    dimensions with min_dist 0, which packs each manifold of the latent into a compact blob, then the
    best of ``n_init`` full-covariance GaussianMixture fits on that embedding. Seeded UMAP runs on one
    thread, so the partition is a function of the seed."""
    import umap  # here, not at the top: it loads numba, which only this partition needs

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_jobs value")  # the seed forces one thread: known
        embedding = umap.UMAP(n_components=n_clusters, n_neighbors=n_neighbors, min_dist=0.0,
                              random_state=seed).fit_transform(z.astype(np.float64))
    return gaussian_mixture(embedding, n_clusters, n_init, seed, "full").predict(embedding)


def partition_moments(z: np.ndarray, assignments: np.ndarray, n_clusters: int,
                      covariance: str = "diag") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each cluster's share, mean and covariance (variances [K, J], or matrices [K, J, J] for "full"):
    a Gaussian mixture that keeps the partition.

    No EM afterwards: EM would move the mixture to the likelihood optimum, which on MNIST merges
    clusters the partition keeps apart.
    """
    z = z.astype(np.float64)
    counts = np.bincount(assignments, minlength=n_clusters)
    if (counts == 0).any():
        raise ValueError(f"the partition left cluster(s) {np.flatnonzero(counts == 0).tolist()} empty; "
                         "lower model.n_clusters or use pretrain.mixture_init = \"gmm\"")
    members = [z[assignments == k] for k in range(n_clusters)]
    means = np.stack([m.mean(axis=0) for m in members])
    if covariance == "diag":
        covariances = np.stack([m.var(axis=0) for m in members]) + 1e-6
    else:
        covariances = np.stack([np.atleast_2d(np.cov(m.T, bias=True)) for m in members])
        covariances += 1e-6 * np.eye(z.shape[1])
    return counts / counts.sum(), means, covariances


def pretrain_autoencoder(model: VaDE, x: np.ndarray, config, seed: int, verbose: int = 0,
                         log_dir: Optional[Path] = None, jit_compile: bool = True) -> dict:
    """Train the encoder's mean path and the decoder as the configured autoencoder; returns the losses.
    ``jit_compile``: XLA-compile the steps (``train.jit_compile``)."""
    history: dict = {}
    if config.method == "stacked_denoising":
        history["layerwise"] = pretrain_stacked(model, x, config, seed, verbose, log_dir, jit_compile)
        history["finetune"] = pretrain_end_to_end(model, x, config, seed, 0.0, verbose, log_dir, jit_compile)
    elif config.method in ("denoising", "plain"):
        noise = config.noise_rate if config.method == "denoising" else 0.0
        history["finetune"] = pretrain_end_to_end(model, x, config, seed, noise, verbose, log_dir,
                                                  jit_compile)
    return history


def initialise_mixture(model: VaDE, x: np.ndarray, config, seed: int) -> np.ndarray:
    """Partition the latent means (``mixture_init``: a GMM, spectral clustering or UMAP + GMM), set
    pi, mu_c, sigma_c^2 from it, and return the partition: a hard cluster for every sample."""
    z = encode_means(model, x)
    if config.mixture_init in ("spectral", "umap"):
        if config.mixture_init == "spectral":
            assignments = spectral_partition(z, model.n_clusters, config.spectral_neighbors,
                                             config.gmm_n_init, seed)
        else:
            assignments = umap_partition(z, model.n_clusters, config.umap_neighbors, config.gmm_n_init, seed)
        weights, means, covariances = partition_moments(z, assignments, model.n_clusters, model.covariance)
    else:
        weights, means, covariances, assignments = fit_mixture(z, model.n_clusters, config.gmm_n_init, seed,
                                                               config.gmm_covariance)
    model.set_mixture(weights, means, covariances)
    return assignments
