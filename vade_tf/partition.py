"""The starting partition: the pretrained latent means cut into K clusters, and the Gaussian mixture
made from them that VaDE's prior starts at.

``pretrain.mixture_init`` names one of ``registry.STARTS``: "gmm" (the paper: a GaussianMixture on
the latent), "spectral" (spectral clustering of the latent's nearest-neighbour graph), "umap" (N2D:
UMAP, then a GaussianMixture) or "kmeans" (k-means of the features); for all but "gmm" the prior
takes each cluster's share, mean and covariance. A start is a function (z, x, K, covariance, the
pretrain config, seed) -> ``StartingMixture``. Pretrained clusters are
curved and touch at their tips; a neighbour graph follows them where a Gaussian cannot (docs/guide/recipe.md
has the measurements behind the default).
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from sklearn.cluster import KMeans
from sklearn.manifold import SpectralEmbedding
from sklearn.mixture import GaussianMixture

from vade_tf.inference import encode_means
from vade_tf.registry import STARTS, resolve


def gaussian_mixture(features: np.ndarray, n_clusters: int, n_init: int, seed: int,
                     covariance: str = "diag") -> GaussianMixture:
    """A GaussianMixture fitted on ``features`` [N, D]: the best likelihood of ``n_init`` seeded EM runs
    (the paper's restarts-pick-the-best-objective protocol for every clustering model). It computes in
    the features' precision, so float32 features keep it at half the cost."""
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
    graph follows them where Gaussians cannot. Embedding by LOBPCG (fast on large sparse graphs, where
    ARPACK's shift-invert is slow), rows scaled to unit length (Ng, Jordan and Weiss), k-means.
    """
    # A graph of fewer samples than neighbours links each to all the others.
    spectral = SpectralEmbedding(n_components=n_clusters, affinity="nearest_neighbors",
                                 n_neighbors=min(n_neighbors, len(z) - 1), eigen_solver="lobpcg",
                                 random_state=seed)
    with warnings.catch_warnings():  # known, and nothing a user can act on:
        # a small graph is solved densely; a graph of separate pieces (well-apart clusters) still gets
        # one embedding coordinate per piece; LOBPCG stopping short of its tolerance keeps its best
        # iterate, which the k-means on the unit-length rows tolerates.
        warnings.filterwarnings("ignore", message="The problem size .* too small relative to the block")
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        warnings.filterwarnings("ignore", message="Exited (at iteration|postprocessing)")
        embedding = spectral.fit_transform(z.astype(np.float64))
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
        embedding = umap.UMAP(n_components=n_clusters, n_neighbors=min(n_neighbors, len(z) - 1), min_dist=0.0,
                              random_state=seed).fit_transform(z.astype(np.float64))
    return gaussian_mixture(embedding, n_clusters, n_init, seed, "full").predict(embedding)


def input_kmeans_partition(x, n_clusters: int, n_init: int, seed: int) -> np.ndarray:
    """k-means on the features as given (what a user tries first), not on the latent: the best of
    ``n_init`` seeded runs. ``x`` is an in-memory array or ``SparseRows`` (clustered sparse; streamed
    features are refused before a run, ``validation.check_data``)."""
    from vade_tf.data.sparse import SparseRows

    features = x.matrix if isinstance(x, SparseRows) else np.asarray(x, np.float64)
    return KMeans(n_clusters, n_init=n_init, random_state=seed).fit_predict(features)


def partition_moments(z: np.ndarray, assignments: np.ndarray, n_clusters: int,
                      covariance: str = "diag", shrinkage: float = 0.0) -> tuple[np.ndarray, np.ndarray,
                                                                                  np.ndarray]:
    """Each cluster's share, mean and covariance (variances [K, J], or matrices [K, J, J] for "full"):
    a Gaussian mixture that keeps the partition.

    ``shrinkage`` (s >= 0) takes cluster c's covariance as (n_c S_c + s S) / (n_c + s), S the clusters'
    pooled within-cluster covariance: the posterior mean of an inverse-Wishart prior centred on S
    with s pseudo-samples. A cluster of a few samples gets a covariance near the pooled one instead
    of one that is flat along some axis; a large cluster keeps its own.
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
        covariances = np.stack([m.var(axis=0) for m in members])
    else:
        covariances = np.stack([np.atleast_2d(np.cov(m.T, bias=True)) for m in members])
    if shrinkage:
        weights = counts.reshape((-1,) + (1,) * (covariances.ndim - 1)).astype(np.float64)
        pooled = (weights * covariances).sum(axis=0) / counts.sum()
        covariances = (weights * covariances + shrinkage * pooled) / (weights + shrinkage)
    ridge = 1e-6 if covariance == "diag" else 1e-6 * np.eye(z.shape[1])
    return counts / counts.sum(), means, covariances + ridge


class StartingMixture(NamedTuple):
    """A starting partition and the Gaussian mixture in the latent that VaDE's prior starts at: what
    every ``registry.STARTS`` entry returns.

    Parameters
    ----------
    weights : ndarray [K]
        pi, the clusters' shares.
    means : ndarray [K, J]
        mu_c.
    covariances : ndarray
        Variances [K, J] ("diag") or matrices [K, J, J] ("full").
    assignments : ndarray [N]
        A hard cluster for every sample.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    assignments: np.ndarray


def gmm_start(z: np.ndarray, x, n_clusters: int, covariance: str, config, seed: int) -> StartingMixture:
    """The paper's start: a GaussianMixture of the latent means (``pretrain.gmm_covariance``), whose
    fit is the prior's start."""
    return StartingMixture(*fit_mixture(z, n_clusters, config.gmm_n_init, seed, config.gmm_covariance))


def _kept(z: np.ndarray, assignments: np.ndarray, n_clusters: int, covariance: str,
          config) -> StartingMixture:
    """The mixture that keeps the partition ``assignments`` (``partition_moments``)."""
    return StartingMixture(*partition_moments(z, assignments, n_clusters, covariance, config.prior_shrinkage),
                           assignments)


def spectral_start(z: np.ndarray, x, n_clusters: int, covariance: str, config, seed: int) -> StartingMixture:
    """Spectral clustering of the latent means (``spectral_partition``), kept by the prior."""
    return _kept(z, spectral_partition(z, n_clusters, config.spectral_neighbors, config.gmm_n_init, seed),
                 n_clusters, covariance, config)


def umap_start(z: np.ndarray, x, n_clusters: int, covariance: str, config, seed: int) -> StartingMixture:
    """UMAP + GMM of the latent means (``umap_partition``), kept by the prior."""
    return _kept(z, umap_partition(z, n_clusters, config.umap_neighbors, config.gmm_n_init, seed), n_clusters,
                 covariance, config)


def kmeans_start(z: np.ndarray, x, n_clusters: int, covariance: str, config, seed: int) -> StartingMixture:
    """k-means of the features ``x`` as given (``input_kmeans_partition``), kept by the prior in the
    latent."""
    return _kept(z, input_kmeans_partition(x, n_clusters, config.gmm_n_init, seed), n_clusters, covariance,
                 config)


def initialise_mixture(model, x: np.ndarray, config, seed: int, jit_compile: bool = True) -> np.ndarray:
    """Make the starting partition that ``config.mixture_init`` names (``registry.STARTS``) of the
    latent means, or of the features ``x``, set pi, mu_c, Sigma_c from it in the latent, and return the
    partition: a hard cluster for every sample."""
    start = resolve(STARTS[config.mixture_init].start)
    mixture = start(encode_means(model, x, jit_compile), x, model.n_clusters, model.prior.covariance, config,
                    seed)
    model.prior.set_mixture(mixture.weights, mixture.means, mixture.covariances)
    return mixture.assignments
