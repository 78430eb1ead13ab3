"""VaDE's prior p(z) = sum_c pi_c N(z | mu_c, Sigma_c) as one Keras layer that owns its weights."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from vade_tf import elbo
from vade_tf.validation import require_positive_integers

COVARIANCES = ("diag", "full")


@keras.saving.register_keras_serializable(package="vade_tf")
class MixturePrior(keras.layers.Layer):
    """The Gaussian mixture over the latent: pi, the means mu_c and the scales of Sigma_c, kept valid
    by construction and handed out as a TFP distribution.

    pi = softmax(``pi_logits``); Sigma_c = diag exp(``log_vars``) for the paper's diagonal components,
    or L_c L_c^T for full ones, whose Cholesky factor L_c has exp(``log_vars`` / 2) on its diagonal
    and ``scale_offdiag``'s strictly lower triangle below it.

    Parameters
    ----------
    n_clusters : int
        K, the number of components.
    latent_dim : int
        J, the dimension of z.
    covariance : {"diag", "full"}
        Each component's covariance: the paper's diagonal one, or a full one that follows latent
        clusters which are not axis-aligned.
    seed : int
        Seeds the random start of the means (a run then sets them from a partition).
    **kwargs
        Keras ``Layer`` arguments (``name``, ``dtype``).
    """

    def __init__(self, n_clusters: int, latent_dim: int, covariance: str, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        require_positive_integers(n_clusters=n_clusters, latent_dim=latent_dim)
        if covariance not in COVARIANCES:
            raise ValueError(f"covariance must be 'diag' or 'full', received {covariance!r}")
        self.n_clusters, self.latent_dim = int(n_clusters), int(latent_dim)
        self.covariance, self.seed = covariance, int(seed)
        k, j = self.n_clusters, self.latent_dim
        self.pi_logits = self.add_weight(shape=(k,), initializer="zeros", name="pi_logits")
        self.means = self.add_weight(shape=(k, j),
                                     initializer=keras.initializers.RandomNormal(seed=self.seed),
                                     name="means")
        self.log_vars = self.add_weight(shape=(k, j), initializer="zeros", name="log_vars")
        self.scale_offdiag = None if covariance == "diag" else self.add_weight(
            shape=(k, j, j), initializer="zeros", name="scale_offdiag")

    @property
    def mixture_variables(self) -> list:
        """pi's logits, the means and the scales: what the mixture's own optimizer updates."""
        return [self.pi_logits, self.means, self.log_vars,
                *([] if self.scale_offdiag is None else [self.scale_offdiag])]

    def distribution(self):
        """p(z) as a TFP ``MixtureSameFamily`` of ``MultivariateNormalDiag`` (or ``TriL``) components."""
        return elbo.mixture_prior(self.pi_logits, self.means, self.log_vars, self.scale_offdiag)

    def scales(self):
        """Each component's Cholesky factor L_c [K, J, J] (a diagonal one for "diag")."""
        if self.scale_offdiag is None:
            return tf.linalg.diag(tf.exp(0.5 * self.log_vars))
        return elbo.component_scale(self.log_vars, self.scale_offdiag)

    def variances(self):
        """Each component's variance along each latent dimension [K, J]: the diagonal of Sigma_c."""
        if self.scale_offdiag is None:
            return tf.exp(self.log_vars)
        return tf.reduce_sum(tf.square(self.scales()), axis=-1)

    def sample(self, cluster, seed):
        """z ~ p(z | c) [B, J] for the clusters ``cluster`` (int64 [B]), drawn statelessly from ``seed``
        (an int64 scalar): the same seed, the same draws."""
        k = self.n_clusters
        tf.debugging.assert_non_negative(cluster, message="cluster must be >= 0")
        tf.debugging.assert_less(cluster, tf.constant(k, tf.int64), message=f"cluster must be < {k}")
        means = tf.gather(self.means, cluster)                                          # [B, J]
        eps = tf.random.stateless_normal(tf.shape(means), seed=tf.stack([seed, 0]))
        if self.scale_offdiag is None:
            return means + tf.exp(0.5 * tf.gather(self.log_vars, cluster)) * eps
        return means + tf.linalg.matvec(tf.gather(self.scales(), cluster), eps)

    def set_mixture(self, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> None:
        """Set pi, mu_c and Sigma_c (e.g. from a fitted GaussianMixture) through their log-space weights.

        Parameters
        ----------
        weights : ndarray [K]
            The mixture weights pi, positive and summing to one.
        means : ndarray [K, J]
            The component means.
        covariances : ndarray [K, J] or [K, J, J]
            Variances or full covariance matrices; diagonal components keep only the diagonals of
            full ones (the prior stays diagonal, the partition is the full model's).
        """
        covariances = np.asarray(covariances, np.float64)
        self.pi_logits.assign(np.log(np.asarray(weights, np.float64)).astype(np.float32))
        self.means.assign(np.asarray(means, np.float32))
        if covariances.ndim == 3 and self.scale_offdiag is None:
            covariances = np.diagonal(covariances, axis1=1, axis2=2)
        if covariances.ndim == 2:
            self.log_vars.assign(np.log(covariances).astype(np.float32))
            if self.scale_offdiag is not None:
                self.scale_offdiag.assign(np.zeros(self.scale_offdiag.shape, np.float32))
            return
        cholesky = np.linalg.cholesky(covariances)                                        # [K, J, J]
        self.log_vars.assign((2 * np.log(np.diagonal(cholesky, axis1=1, axis2=2))).astype(np.float32))
        self.scale_offdiag.assign(np.tril(cholesky, -1).astype(np.float32))

    def mixture(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """pi [K], the means [K, J] and the covariances (variances [K, J] for "diag", matrices
        [K, J, J] for "full") as NumPy arrays: what ``set_mixture`` takes, named as scikit-learn's
        ``GaussianMixture`` names its ``weights_``, ``means_`` and ``covariances_``."""
        logits = self.pi_logits.numpy().astype(np.float64)
        shifted = np.exp(logits - logits.max())
        weights = shifted / shifted.sum()  # the softmax, in float64
        if self.scale_offdiag is None:
            return weights, self.means.numpy(), self.variances().numpy()
        scale = self.scales().numpy()
        return weights, self.means.numpy(), scale @ np.swapaxes(scale, 1, 2)

    def get_config(self):
        return {**super().get_config(), "n_clusters": self.n_clusters, "latent_dim": self.latent_dim,
                "covariance": self.covariance, "seed": self.seed}
