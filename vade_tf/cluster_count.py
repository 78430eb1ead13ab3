"""The number of clusters when the user does not know it (``model.n_clusters = "auto"``), chosen
without labels from one pretraining.

The autoencoder is pretrained once, as for any K (the networks do not depend on it), and K is read
from the nearest-neighbour graph of its latent means, the graph the default spectral start then cuts
into K clusters (von Luxburg, "A tutorial on spectral clustering", 2007, sections 3 and 8.3):

- a graph of c separate pieces, min_clusters <= c <= max_clusters, has c clusters: its normalised
  Laplacian has eigenvalue 0 c times, once per piece;
- otherwise K is the k in [min_clusters, max_clusters] with the largest eigengap
  lambda_{k+1} - lambda_k: k groups joined by few edges keep k eigenvalues near 0 and a gap above.

The piece count comes first because small separated clusters have large eigenvalues of their own, and
the gap between two of those can exceed the gap above the zeros. Each sample's neighbours are as many
as the smallest cluster considered holds on average (``recipe.neighbors_for`` at max_clusters), so a
piece of the graph is never smaller than that. The run then trains the K chosen from the same
autoencoder (``pretraining_cache.MIXTURE_KEYS``): trying every K costs one pretraining and one eigensolve.
"""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import lobpcg
from sklearn.neighbors import kneighbors_graph

from vade_tf.config import Config
from vade_tf.data import Dataset
from vade_tf.recipe import neighbors_for, resolve_auto
from vade_tf.timing import Stopwatch

CRITERION = "eigengap"


def neighbour_graph(z: np.ndarray, n_neighbors: int) -> scipy.sparse.csr_matrix:
    """The symmetric k-nearest-neighbour affinity A = (C + C^T) / 2 of ``z`` [N, J], C the
    connectivity, as scikit-learn's spectral embedding builds it."""
    connectivity = kneighbors_graph(z.astype(np.float64), n_neighbors, include_self=False)
    return (0.5 * (connectivity + connectivity.T)).tocsr()


def laplacian_spectrum(affinity: scipy.sparse.spmatrix, count: int, seed: int) -> np.ndarray:
    """The ``count`` smallest eigenvalues, ascending, of the normalised Laplacian I - D^-1/2 A D^-1/2
    of the graph ``affinity``.

    Computed as the largest of D^-1/2 A D^-1/2 by LOBPCG from a block of ``count`` vectors drawn with
    ``seed`` (the same spectrum on every call). A block method finds every copy of a repeated
    eigenvalue, one per connected piece of the graph, where Lanczos (``eigsh``) from one start vector
    can miss copies.
    """
    inverse_root = scipy.sparse.diags(1.0 / np.sqrt(np.asarray(affinity.sum(axis=1)).ravel()))
    start = np.random.default_rng(seed).standard_normal((affinity.shape[0], count))
    with warnings.catch_warnings():  # known, and handled by LOBPCG itself:
        # a small graph is solved densely; stopping short of the tolerance keeps the best iterate.
        warnings.filterwarnings("ignore", message="The problem size .* too small relative to the block")
        warnings.filterwarnings("ignore", message="Exited (at iteration|postprocessing)")
        largest, _ = lobpcg(inverse_root @ affinity @ inverse_root, start, largest=True, tol=1e-6,
                            maxiter=500)
    return np.sort(1.0 - largest)


class Count(NamedTuple):
    """What the graph of the latent says of K."""
    chosen: int
    scores: dict[int, float]  # every K considered -> its eigengap
    pieces: int               # the graph's connected pieces


def count_clusters(z: np.ndarray, min_clusters: int, max_clusters: int, seed: int) -> Count:
    """K for the latent means ``z``: the graph's number of pieces when it lies in the range, else the
    K of the largest eigengap (the module's docstring says why).

    Parameters
    ----------
    z : ndarray of shape (n_samples, latent_dim)
        The pretrained encoder's latent means; at least ``max_clusters + 2`` rows.
    min_clusters, max_clusters : int
        The range of K considered, 2 <= min_clusters <= max_clusters.
    seed : int
        Seeds the eigensolver's start vectors.

    Returns
    -------
    Count
        The K chosen, the eigengap lambda_{K+1} - lambda_K of every K in the range, and the graph's
        number of connected pieces.
    """
    affinity = neighbour_graph(z, min(neighbors_for(len(z), max_clusters), len(z) - 1))
    pieces = int(connected_components(affinity, directed=False)[0])
    eigenvalues = laplacian_spectrum(affinity, max_clusters + 1, seed)
    scores = {k: float(eigenvalues[k] - eigenvalues[k - 1]) for k in range(min_clusters, max_clusters + 1)}
    chosen = pieces if min_clusters <= pieces <= max_clusters else max(scores, key=scores.get)
    return Count(chosen, scores, pieces)


def choose_n_clusters(config: Config, data: Dataset, seed: int, cache: Path, verbose: int,
                      log_dir: Optional[Path] = None,
                      stopwatch: Optional[Stopwatch] = None) -> tuple[Config, dict]:
    """Pretrain the autoencoder (into ``cache``, or reuse it from there) and choose K from its latent.

    A new pretraining is cached as a model of ``max_clusters`` components whose prior a one-restart
    diagonal GaussianMixture sets (cheap, and never used: only the networks are), so the run's own
    start, for the K chosen, reuses the autoencoder and partitions its latent anew. A cache that
    already holds this autoencoder (a run resumed) is only read.

    Parameters
    ----------
    config : Config
        A run's config with ``model.n_clusters = "auto"`` and its other "auto" values resolved.
    data : Dataset
        The training data.
    seed : int
        The pretraining's seed (the first restart's).
    cache : Path
        The first restart's pretraining cache.
    verbose : int
        Print the scores and the K chosen.
    log_dir : Path, optional
        Where TensorBoard gets the criterion over K (``n_clusters/eigengap``, step K) and the choice.
    stopwatch : Stopwatch, optional
        Gets the seconds of the pretraining and of the choice.

    Returns
    -------
    (Config, dict)
        ``config`` with the K chosen (and the values that follow it resolved), and the record that
        metrics.json keeps: ``n_clusters_chosen``, ``n_clusters_criterion``, ``n_clusters_scores``
        (K -> eigengap, for every K considered) and ``n_clusters_graph_pieces``.
    """
    from vade_tf.inference import encode_means
    from vade_tf.initialise import build_model, initialise, load_pretrained_networks

    stopwatch = stopwatch or Stopwatch()
    m = config.model
    probe = dataclasses.replace(
        config, model=dataclasses.replace(m, n_clusters=m.max_clusters),
        pretrain=dataclasses.replace(config.pretrain, mixture_init="gmm", gmm_covariance="diag",
                                     gmm_n_init=1, other_starts=()))
    model = build_model(probe, data.input_dim, seed)
    if verbose:
        print(f"pretraining ({config.pretrain.method}) to choose the number of clusters from its latent",
              flush=True)
    if not load_pretrained_networks(model, data, probe, seed, cache):
        initialise(model, data, probe, seed, cache, 0, log_dir and log_dir / "pretrain", stopwatch)
    with stopwatch.phase("n_clusters"):
        count = count_clusters(encode_means(model, data.x, config.train.jit_compile), m.min_clusters,
                               m.max_clusters, seed)
    if verbose:
        listed = ", ".join(f"{k}: {score:.4f}" for k, score in count.scores.items())
        reason = ("the pieces of the latent's graph" if count.chosen == count.pieces else
                  f"the largest {CRITERION} of K = {m.min_clusters}..{m.max_clusters}")
        print(f"number of clusters: {count.chosen}, {reason} ({CRITERION}s: {listed})", flush=True)
    if log_dir is not None:
        import tensorflow as tf

        with tf.summary.create_file_writer(str(log_dir)).as_default():
            for k, score in count.scores.items():
                tf.summary.scalar(f"n_clusters/{CRITERION}", score, step=k)
            tf.summary.scalar("n_clusters/chosen", count.chosen, step=0)
            tf.summary.scalar("n_clusters/graph_pieces", count.pieces, step=0)
    chosen_config = dataclasses.replace(config, model=dataclasses.replace(m, n_clusters=count.chosen))
    record = {"n_clusters_chosen": count.chosen, "n_clusters_criterion": CRITERION,
              "n_clusters_scores": {str(k): score for k, score in count.scores.items()},
              "n_clusters_graph_pieces": count.pieces}
    return resolve_auto(chosen_config, data), record
