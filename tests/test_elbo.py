"""The ELBO of Eq. 12: closed form by hand = TFP composition = Monte-Carlo estimate."""
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import log_softmax, logsumexp
from scipy.stats import multivariate_normal

from vade_tf import elbo

B, J, K, D, L = 5, 3, 4, 7, 2  # a different size on every axis, so a swapped one fails


def _random_problem(dtype, likelihood, seed=0):
    rng = np.random.default_rng(seed)

    def cast(a):
        return np.asarray(a, dtype=dtype)

    p = {
        "x": cast(rng.uniform(size=(B, D)) if likelihood == "bernoulli" else rng.normal(size=(B, D))),
        "z_mean": cast(rng.normal(size=(B, J))),
        "z_log_var": cast(rng.normal(scale=0.5, size=(B, J))),
        "pi_logits": cast(rng.normal(size=K)),
        "means": cast(rng.normal(size=(K, J))),
        "log_vars": cast(rng.normal(scale=0.5, size=(K, J))),
        "x_params": cast(rng.normal(size=(L, B, D if likelihood == "bernoulli" else 2 * D))),
    }
    eps = rng.normal(size=(L, B, J))
    p["z"] = cast(p["z_mean"] + np.exp(0.5 * p["z_log_var"]) * eps)
    return p


def _log_normal_diag(z, mean, log_var):
    return -0.5 * np.sum(np.log(2 * np.pi) + log_var + (z - mean) ** 2 / np.exp(log_var), -1)


def _gamma_by_hand(p, z):
    """Eq. 16: gamma_c = pi_c N(z|mu_c, sigma_c^2) / sum_c' (...), for z [..., J] -> [..., K]."""
    log_pi = log_softmax(p["pi_logits"].astype(np.float64))
    log_pz_c = _log_normal_diag(z[..., None, :], p["means"], p["log_vars"])
    return np.exp(log_softmax(log_pi + log_pz_c, axis=-1))


def _log_px_by_hand(p, likelihood):
    x, params = p["x"].astype(np.float64), p["x_params"].astype(np.float64)
    if likelihood == "bernoulli":
        return np.sum(x * -np.logaddexp(0, -params) + (1 - x) * -np.logaddexp(0, params), -1)
    mean, log_var = params[..., :D], params[..., D:]
    return _log_normal_diag(x, mean, log_var)


def _eq12_by_hand(p, likelihood):
    """Eq. 12 of the paper written out term by term, averaged over the L samples, per data point."""
    gamma = _gamma_by_hand(p, p["z"].astype(np.float64))                  # [L, B, K]
    pi = np.exp(log_softmax(p["pi_logits"].astype(np.float64)))           # [K]
    mu_t, lv_t = p["z_mean"][:, None, :], p["z_log_var"][:, None, :]      # [B, 1, J]
    lv_c, mu_c = p["log_vars"], p["means"]                                # [K, J]
    term_z = -0.5 * np.sum(gamma * np.sum(lv_c + np.exp(lv_t) / np.exp(lv_c) + (mu_t - mu_c) ** 2
                                          / np.exp(lv_c), -1), -1)
    term_c = np.sum(gamma * np.log(pi / gamma), -1)
    term_q = 0.5 * np.sum(1 + p["z_log_var"], -1)
    return np.mean(_log_px_by_hand(p, likelihood) + term_z + term_c + term_q, 0)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-4), (np.float64, 1e-10)])
def test_eq12_by_hand_equals_tfp_composition(likelihood, dtype, tol):
    p = _random_problem(dtype, likelihood)
    prior = elbo.mixture_prior(p["pi_logits"], p["means"], p["log_vars"])
    terms = elbo.elbo_terms(p["x"], p["z_mean"], p["z_log_var"], p["z"], p["x_params"], prior, likelihood)
    assert terms["elbo"].dtype == dtype
    expected = _eq12_by_hand(p, likelihood)
    np.testing.assert_allclose(terms["elbo"].numpy(), expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(
        terms["reconstruction"].numpy(), np.mean(_log_px_by_hand(p, likelihood), 0), rtol=tol, atol=tol)


def test_monte_carlo_estimate_agrees_with_closed_form_kl_terms():
    """E_q[log p(z, c) - log q(z, c | x)] by sampling, with gamma held fixed, = -(kl_z + kl_c)."""
    p = _random_problem(np.float64, "bernoulli", seed=1)
    prior = elbo.mixture_prior(p["pi_logits"], p["means"], p["log_vars"])
    log_gamma = elbo.cluster_log_posterior(prior, p["z_mean"]).numpy()                     # [B, K]
    kl_z, kl_c = elbo.kl_terms(p["z_mean"], p["z_log_var"], log_gamma, prior)
    closed_form = -(kl_z + kl_c).numpy()                                                 # [B]

    n = 200_000
    rng = np.random.default_rng(2)
    z = p["z_mean"] + np.exp(0.5 * p["z_log_var"]) * rng.normal(size=(n, B, J))           # [n, B, J]
    log_pi = log_softmax(p["pi_logits"])
    log_pz_c = _log_normal_diag(z[..., None, :], p["means"], p["log_vars"])               # [n, B, K]
    log_qz = _log_normal_diag(z, p["z_mean"], p["z_log_var"])                              # [n, B]
    # c is summed out exactly under q(c|x) = gamma; z is sampled.
    integrand = np.sum(np.exp(log_gamma) * (log_pi + log_pz_c - log_gamma), -1) - log_qz
    estimate, stderr = integrand.mean(0), integrand.std(0) / np.sqrt(n)
    assert np.all(np.abs(estimate - closed_form) < 4 * stderr + 1e-9), (estimate, closed_form, stderr)


def test_single_cluster_reduces_to_the_standard_vae():
    p = _random_problem(np.float64, "bernoulli", seed=3)
    prior = elbo.mixture_prior(np.zeros(1), np.zeros((1, J)), np.zeros((1, J)))
    terms = elbo.elbo_terms(p["x"], p["z_mean"], p["z_log_var"], p["z"], p["x_params"], prior, "bernoulli")
    vae_kl = 0.5 * np.sum(p["z_mean"] ** 2 + np.exp(p["z_log_var"]) - 1 - p["z_log_var"], -1)
    np.testing.assert_allclose(terms["kl_c"].numpy(), 0.0, atol=1e-12)
    np.testing.assert_allclose(terms["kl_z"].numpy(), vae_kl, rtol=1e-10)
    np.testing.assert_allclose(terms["elbo"].numpy(),
                               np.mean(_log_px_by_hand(p, "bernoulli"), 0) - vae_kl, rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gamma_is_the_mixture_posterior_marginal(dtype):
    p = _random_problem(dtype, "bernoulli", seed=4)
    prior = elbo.mixture_prior(p["pi_logits"], p["means"], p["log_vars"])
    ours = elbo.cluster_log_posterior(prior, p["z"]).numpy()                               # [L, B, K]
    tfp_marginal = prior.posterior_marginal(p["z"]).logits_parameter().numpy()
    tfp_log_probs = tfp_marginal - logsumexp(tfp_marginal, -1, keepdims=True)
    np.testing.assert_allclose(ours, tfp_log_probs, atol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(np.exp(ours), _gamma_by_hand(p, p["z"].astype(np.float64)),
                               atol=1e-5 if dtype == np.float32 else 1e-12)


def test_gamma_stays_finite_far_from_every_cluster():
    """Log space: a point 1e3 standard deviations away still gets a proper distribution."""
    prior = elbo.mixture_prior(np.zeros(K, np.float32), np.zeros((K, J), np.float32),
                               np.full((K, J), -10.0, np.float32))
    gamma = tf.exp(elbo.cluster_log_posterior(prior, tf.fill([2, J], 1e3))).numpy()
    assert np.all(np.isfinite(gamma))
    np.testing.assert_allclose(gamma.sum(-1), 1.0, rtol=1e-6)


# ----------------------------------------------------------------------------- full covariances
def _full_covariance_problem(seed):
    """A problem whose components have full covariances Sigma_c = L_c L_c^T, with L_c from
    (log_vars, scale_offdiag) as the model parameterises it."""
    p = _random_problem(np.float64, "bernoulli", seed=seed)
    p["scale_offdiag"] = np.random.default_rng(seed + 100).normal(scale=0.5, size=(K, J, J))
    scale = np.tril(p["scale_offdiag"], -1) + np.stack([np.diag(np.exp(0.5 * lv)) for lv in p["log_vars"]])
    p["covariances"] = scale @ np.swapaxes(scale, -1, -2)                                 # [K, J, J]
    return p


def _log_normal_full(z, means, covariances):
    """log N(z | mu_c, Sigma_c) for z [..., J] against every component: [..., K]."""
    return np.stack([multivariate_normal(m, c).logpdf(z) for m, c in zip(means, covariances)], -1)


def test_full_covariance_eq12_by_hand_equals_tfp_composition():
    p = _full_covariance_problem(seed=5)
    prior = elbo.mixture_prior(p["pi_logits"], p["means"], p["log_vars"], p["scale_offdiag"])
    terms = elbo.elbo_terms(p["x"], p["z_mean"], p["z_log_var"], p["z"], p["x_params"], prior, "bernoulli")
    log_pi = log_softmax(p["pi_logits"])
    log_pz_c = _log_normal_full(p["z"], p["means"], p["covariances"])                    # [L, B, K]
    gamma = np.exp(log_softmax(log_pi + log_pz_c, -1))
    precisions = np.linalg.inv(p["covariances"])                                          # [K, J, J]
    diff = p["z_mean"][:, None, :] - p["means"]                                           # [B, K, J]
    kl = 0.5 * (np.einsum("kii,bi->bk", precisions, np.exp(p["z_log_var"]))
                + np.einsum("bki,kij,bkj->bk", diff, precisions, diff) - J
                + np.linalg.slogdet(p["covariances"])[1] - p["z_log_var"].sum(-1, keepdims=True))  # [B, K]
    expected = np.mean(_log_px_by_hand(p, "bernoulli") - np.sum(gamma * kl, -1)
                       - np.sum(gamma * (np.log(gamma) - log_pi), -1), 0)
    np.testing.assert_allclose(terms["elbo"].numpy(), expected, rtol=1e-10)


def test_full_covariance_monte_carlo_estimate_agrees_with_closed_form_kl_terms():
    p = _full_covariance_problem(seed=6)
    prior = elbo.mixture_prior(p["pi_logits"], p["means"], p["log_vars"], p["scale_offdiag"])
    log_gamma = elbo.cluster_log_posterior(prior, p["z_mean"]).numpy()                     # [B, K]
    closed_form = -sum(elbo.kl_terms(p["z_mean"], p["z_log_var"], log_gamma, prior)).numpy()
    n = 100_000
    z = p["z_mean"] + np.exp(0.5 * p["z_log_var"]) * np.random.default_rng(7).normal(size=(n, B, J))
    log_pz_c = _log_normal_full(z, p["means"], p["covariances"])                           # [n, B, K]
    log_qz = _log_normal_diag(z, p["z_mean"], p["z_log_var"])
    integrand = np.sum(np.exp(log_gamma) * (log_softmax(p["pi_logits"]) + log_pz_c - log_gamma), -1) - log_qz
    estimate, stderr = integrand.mean(0), integrand.std(0) / np.sqrt(n)
    assert np.all(np.abs(estimate - closed_form) < 4 * stderr + 1e-9), (estimate, closed_form, stderr)


def test_zero_off_diagonal_scale_is_the_papers_diagonal_prior():
    p = _random_problem(np.float64, "bernoulli", seed=8)
    diagonal = elbo.mixture_prior(p["pi_logits"], p["means"], p["log_vars"])
    full = elbo.mixture_prior(p["pi_logits"], p["means"], p["log_vars"], np.zeros((K, J, J)))
    np.testing.assert_allclose(elbo.cluster_log_posterior(full, p["z"]).numpy(),
                               elbo.cluster_log_posterior(diagonal, p["z"]).numpy(), atol=1e-12)
    kl_z = [elbo.kl_terms(p["z_mean"], p["z_log_var"], np.zeros((B, K)), prior)[0].numpy()
            for prior in (full, diagonal)]
    np.testing.assert_allclose(kl_z[0], kl_z[1], rtol=1e-10)
