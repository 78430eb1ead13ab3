import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from vade_tf.metrics import cluster_accuracy
from vade_tf.partition import fit_mixture, partition_moments, spectral_partition, umap_partition


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
    weights, means, covariances, assignments = fit_mixture(z, 3, n_init=3, seed=0, covariance=covariance)
    assert cluster_accuracy(y, assignments) > 0.99
    assert weights.shape == (3,) and np.isclose(weights.sum(), 1.0)
    assert means.shape == (3, 4)
    assert covariances.shape == ((3, 4) if covariance == "diag" else (3, 4, 4))


def test_full_covariance_mixture_sets_a_diagonal_prior_from_its_diagonals_and_a_full_one_whole():
    from conftest import make_vade

    z, _ = _correlated_clusters(seed=1)
    weights, means, covariances, assignments = fit_mixture(z, 3, n_init=2, seed=5, covariance="full")
    reference = GaussianMixture(3, covariance_type="full", n_init=2, random_state=5, reg_covar=1e-6,
                                max_iter=300).fit(z)
    np.testing.assert_allclose(means, reference.means_)
    np.testing.assert_array_equal(assignments, reference.predict(z))
    models = {kind: make_vade(5, 3, latent_dim=4, hidden_dims=[8], covariance=kind) for kind in ("diag",
                                                                                                 "full")}
    for model in models.values():
        model.prior.set_mixture(weights, means, covariances)
    diagonals = np.diagonal(reference.covariances_, axis1=1, axis2=2)
    np.testing.assert_allclose(models["diag"].prior.variances().numpy(), diagonals, rtol=1e-4)
    prior = models["full"].prior.distribution().components_distribution
    np.testing.assert_allclose(prior.covariance().numpy(), reference.covariances_, rtol=1e-4, atol=1e-6)


def _rings(n_per_ring=300, seed=0):
    """Two concentric noisy circles in 3-d: clusters no Gaussian mixture can separate."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, size=2 * n_per_ring)
    radius = np.repeat([1.0, 4.0], n_per_ring)
    z = np.stack([radius * np.cos(angle), radius * np.sin(angle), np.zeros_like(angle)], 1)
    return z + rng.normal(scale=0.1, size=z.shape), np.repeat([0, 1], n_per_ring)


def test_spectral_partition_follows_curved_clusters_where_a_gmm_cannot():
    z, y = _rings()
    *_, gmm_assignments = fit_mixture(z, 2, n_init=3, seed=0, covariance="full")
    assert cluster_accuracy(y, gmm_assignments) < 0.8
    assignments = spectral_partition(z, 2, n_neighbors=10, n_init=3, seed=0)
    assert cluster_accuracy(y, assignments) == 1.0
    np.testing.assert_array_equal(assignments, spectral_partition(z, 2, n_neighbors=10, n_init=3, seed=0))


def test_spectral_partition_recovers_gaussian_clusters_too():
    z, y = _correlated_clusters(n_per_cluster=200)
    assert cluster_accuracy(y, spectral_partition(z, 3, n_neighbors=10, n_init=3, seed=1)) > 0.99


def test_umap_partition_follows_curved_clusters_and_repeats_for_its_seed():
    z, y = _rings()
    assignments = umap_partition(z, 2, n_neighbors=15, n_init=2, seed=0)
    assert cluster_accuracy(y, assignments) == 1.0
    np.testing.assert_array_equal(assignments, umap_partition(z, 2, n_neighbors=15, n_init=2, seed=0))


def test_partition_moments_are_each_clusters_share_mean_and_variance():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(50, 4))
    assignments = rng.integers(0, 3, size=50)
    weights, means, variances = partition_moments(z, assignments, 3)
    for c in range(3):
        members = z[assignments == c]
        assert np.isclose(weights[c], len(members) / 50)
        np.testing.assert_allclose(means[c], members.mean(0))
        np.testing.assert_allclose(variances[c], members.var(0) + 1e-6)
    order = rng.permutation(50)  # the moments of a partition do not depend on the sample order
    for a, b in zip((weights, means, variances), partition_moments(z[order], assignments[order], 3)):
        np.testing.assert_allclose(a, b)
    _, _, covariances = partition_moments(z, assignments, 3, covariance="full")
    for c in range(3):
        members = z[assignments == c]
        np.testing.assert_allclose(covariances[c], np.cov(members.T, bias=True) + 1e-6 * np.eye(z.shape[1]))
        np.testing.assert_allclose(np.diag(covariances[c]), variances[c])


def test_shrinkage_pulls_a_small_clusters_covariance_toward_the_pooled_one():
    """(n_c S_c + s S) / (n_c + s), S the count-weighted mean of the clusters' covariances: a cluster
    of 3 samples on a line (singular alone) becomes well-conditioned, one of 300 keeps its own."""
    rng = np.random.default_rng(0)
    thin = np.column_stack([np.arange(3.0), np.zeros(3)]) + 10  # every sample on one line
    z = np.concatenate([thin, rng.normal(size=(300, 2))])
    assignments = np.repeat([0, 1], [3, 300])
    _, _, own = partition_moments(z, assignments, 2, covariance="full")
    _, _, shrunk = partition_moments(z, assignments, 2, covariance="full", shrinkage=10.0)
    raw = own - 1e-6 * np.eye(2)
    pooled = (3 * raw[0] + 300 * raw[1]) / 303
    for c, n in enumerate((3, 300)):
        np.testing.assert_allclose(shrunk[c], (n * raw[c] + 10 * pooled) / (n + 10) + 1e-6 * np.eye(2))
    assert np.linalg.eigvalsh(own[0]).min() < 1e-5 < 0.5 < np.linalg.eigvalsh(shrunk[0]).min()
    np.testing.assert_allclose(shrunk[1], own[1], atol=0.05)


def test_partition_moments_reject_an_empty_cluster():
    with pytest.raises(ValueError, match=r"cluster\(s\) \[2\] empty"):
        partition_moments(np.zeros((4, 2)), np.array([0, 1, 0, 1]), 3)


@pytest.mark.parametrize("jit_compile", [True, False])
def test_every_pretraining_stage_compiles_as_train_jit_compile_says(monkeypatch, jit_compile):
    import keras
    from conftest import make_vade

    from vade_tf.config import PretrainConfig
    from vade_tf.pretrain import pretrain_autoencoder

    compiled = []
    keras_compile = keras.Model.compile

    def recording_compile(self, *args, **kwargs):
        compiled.append(kwargs.get("jit_compile"))
        return keras_compile(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "compile", recording_compile)
    model = make_vade(6, 2, hidden_dims=[4, 3])
    x = np.random.default_rng(0).uniform(size=(32, 6)).astype(np.float32)
    config = PretrainConfig(method="stacked_denoising", epochs=1, layer_epochs=1, batch_size=16)
    pretrain_autoencoder(model, x, config, seed=0, jit_compile=jit_compile)
    assert compiled == [jit_compile] * 4  # three greedy layers (two hidden, the latent), then end to end
