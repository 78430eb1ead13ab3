"""The ELBO of VaDE (Jiang et al. 2017, Eq. 12) as pure functions over TFP distributions.

Because sum_c gamma_c = 1, Eq. 12 is exactly

    L(x) = E_q[log p(x|z)] - sum_c gamma_c KL(q(z|x) || p(z|c)) - KL(Cat(gamma) || Cat(pi)),

with gamma_c = p(c|z) (Eq. 16). Each term is composed from TFP's closed-form KL divergences; the tests
check it against Eq. 12 written out by hand and against a Monte-Carlo estimate. Everything stays in
log space: variances are exp of log-variances and gamma comes from a log-softmax.
"""
from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from vade_tf import likelihoods

tfd = tfp.distributions


def component_scale(log_vars, scale_offdiag):
    """The Cholesky factor L_c [K, J, J] of each component's covariance L_c L_c^T: exp(log_vars / 2) on
    the diagonal and ``scale_offdiag``'s strictly lower triangle below it (its other entries unused)."""
    lower = tf.linalg.band_part(scale_offdiag, -1, 0)
    return tf.linalg.set_diag(lower, tf.exp(0.5 * log_vars))


def mixture_prior(pi_logits, means, log_vars, scale_offdiag=None) -> tfd.MixtureSameFamily:
    """p(z) = sum_c pi_c N(z | mu_c, Sigma_c), with pi = softmax(pi_logits).

    The paper's Sigma_c = diag sigma_c^2 = diag exp(log_vars) when ``scale_offdiag`` is None; else a
    full covariance L_c L_c^T (see ``component_scale``), whose clusters need not be axis-aligned.
    """
    if scale_offdiag is None:
        components = tfd.MultivariateNormalDiag(loc=means, scale_diag=tf.exp(0.5 * log_vars))  # [K, J]
    else:
        # Sigma_c's scale given as the inverse of L_c^-1: each solve that log_prob and the KL make (one per
        # sample and cluster) is then a product with L_c^-1, which is inverted once, for all of them.
        scale = component_scale(log_vars, scale_offdiag)                                        # [K, J, J]
        inverse = tf.linalg.triangular_solve(scale, tf.eye(scale.shape[-1], batch_shape=scale.shape[:1],
                                                           dtype=scale.dtype))
        components = tfd.MultivariateNormalLinearOperator(loc=means, scale=tf.linalg.LinearOperatorInversion(
            tf.linalg.LinearOperatorLowerTriangular(inverse, is_non_singular=True)))
    return tfd.MixtureSameFamily(mixture_distribution=tfd.Categorical(logits=pi_logits),   # [K]
                                 components_distribution=components)


def posterior(z_mean, z_log_var) -> tfd.MultivariateNormalDiag:
    """q(z|x) = N(z_mean, diag exp(z_log_var))."""
    return tfd.MultivariateNormalDiag(loc=z_mean, scale_diag=tf.exp(0.5 * z_log_var))


def cluster_log_posterior(prior: tfd.MixtureSameFamily, z):
    """log gamma = log p(c|z) (Eq. 16) for z [..., J], returned as [..., K]."""
    log_pi = tf.nn.log_softmax(prior.mixture_distribution.logits)               # [K]
    log_pz_c = prior.components_distribution.log_prob(z[..., tf.newaxis, :])     # [..., K]
    return tf.nn.log_softmax(log_pi + log_pz_c, axis=-1)


def kl_terms(z_mean, z_log_var, log_gamma, prior):
    """The two KL terms of Eq. 12 for a given gamma.

    Shapes: z_mean, z_log_var [B, J]; log_gamma [..., B, K]. Returns ``kl_z`` =
    sum_c gamma_c KL(q(z|x) || p(z|c)) and ``kl_c`` = KL(Cat(gamma) || Cat(pi)), each [..., B].
    """
    q_z = posterior(z_mean[:, tf.newaxis, :], z_log_var[:, tf.newaxis, :])          # [B, 1, J]
    kl_per_cluster = tfd.kl_divergence(q_z, prior.components_distribution)          # [B, K]
    kl_z = tf.reduce_sum(tf.exp(log_gamma) * kl_per_cluster, -1)                    # [..., B]
    kl_c = tfd.kl_divergence(tfd.Categorical(logits=log_gamma), prior.mixture_distribution)
    return kl_z, kl_c


def elbo_terms(x, z_mean, z_log_var, z_samples, x_params, prior, likelihood: str,
               log_gamma=None) -> dict:
    """The three terms of Eq. 12 and their sum, per data point.

    Shapes: x [B, D]; z_mean, z_log_var [B, J]; z_samples [L, B, J] drawn from q(z|x); x_params
    [L, B, D or 2D] = f(z_samples). gamma is computed from each sample, as in Eq. 16, and the terms are
    averaged over the L samples. Returns a dict of [B] tensors: ``reconstruction`` (E log p(x|z)),
    ``kl_z`` (sum_c gamma_c KL(q(z|x) || p(z|c))), ``kl_c`` (KL(gamma || pi)) and ``elbo``.
    A given ``log_gamma`` [L or 1, B, K] replaces Eq. 16's (a fixed assignment; still a lower bound).
    """
    reconstruction = tf.reduce_mean(likelihoods.log_prob(x, x_params, likelihood), 0)           # [B]
    if log_gamma is None:
        log_gamma = cluster_log_posterior(prior, z_samples)                                   # [L, B, K]
    kl_z, kl_c = (tf.reduce_mean(term, 0) for term in kl_terms(z_mean, z_log_var, log_gamma, prior))
    return {"reconstruction": reconstruction, "kl_z": kl_z, "kl_c": kl_c,
            "elbo": reconstruction - kl_z - kl_c}
