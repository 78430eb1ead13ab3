import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from vade_tf.metrics import cluster_accuracy
from vade_tf.pretrain import fit_mixture


def _correlated_clusters(n_per_cluster=300, seed=0):
    """Three 4-d Gaussian clusters with random full covariances (strongly off-diagonal), well apart."""
    rng = np.random.default_rng(seed)
    means = np.array([[0, 0, 0, 0], [12, 0, 0, 0], [0, 12, 0, 0]], float)
    z, y = [], []
    for c, mean in enumerate(means):
        mixing = rng.normal(size=(4, 4))
        z.append(rng.normal(size=(n_per_cluster, 4)) @ mixing + mean)
        y.append(np.full(n_per_cluster, c))
    return np.concatenate(z), np.concatenate(y)


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_mixture_recovers_known_clusters(covariance):
    z, y = _correlated_clusters()
    weights, means, variances, assignments = fit_mixture(z, 3, n_init=3, seed=0, covariance=covariance)
    assert cluster_accuracy(y, assignments) > 0.99
    assert weights.shape == (3,) and np.isclose(weights.sum(), 1.0)
    assert means.shape == variances.shape == (3, 4) and np.all(variances > 0)


def test_full_covariance_initialises_the_diagonal_prior_from_its_diagonals():
    z, _ = _correlated_clusters(seed=1)
    _, means, variances, assignments = fit_mixture(z, 3, n_init=2, seed=5, covariance="full")
    reference = GaussianMixture(3, covariance_type="full", n_init=2, random_state=5, reg_covar=1e-6,
                                max_iter=300).fit(z)
    np.testing.assert_allclose(means, reference.means_)
    np.testing.assert_allclose(variances, [np.diag(c) for c in reference.covariances_])
    np.testing.assert_array_equal(assignments, reference.predict(z))
    # The variances are the per-cluster spreads of the assigned points, not of a diagonal refit.
    for c in range(3):
        np.testing.assert_allclose(variances[c], z[assignments == c].var(0), rtol=0.05)
