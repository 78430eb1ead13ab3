"""The data a user brings: "auto" values resolved from the data, standardisation inside the model
(any scale trains, and serving takes raw rows), the per-sample ELBO, encoding rows outside the
likelihood's support, degenerate input, a collapse said once, and the first epoch keeping its start."""
import contextlib
import io

import numpy as np
import pytest
import scipy.sparse
import tensorflow as tf
from conftest import FAST, TINY_ESTIMATOR, blobs, make_vade

from vade_tf import VaDEClustering, exporting, recipe
from vade_tf.config import Config, config_from_dict
from vade_tf.data import Dataset
from vade_tf.data.sparse import SparseRows
from vade_tf.errors import ConfigError


def _resolved(x, **raw) -> Config:
    return recipe.resolve_auto(config_from_dict(raw), Dataset(x, None, "X"))


def test_auto_values_follow_the_data_and_leave_given_values_alone():
    rng = np.random.default_rng(0)
    small = _resolved(rng.normal(size=(150, 4)).astype(np.float32))
    assert small.model.latent_dim == 4 and small.model.networks.hidden_dims == (64, 64, 256)
    assert small.model.likelihood == "gaussian" and small.train.jit_compile is False
    assert (small.pretrain.batch_size, small.train.batch_size) == (32, 16)
    assert small.pretrain.epochs == 200 and small.train.epochs == 50  # about 1,000 steps, within the bounds
    # A table the latent keeps whole (D <= J) starts from a GMM of the prior's own covariance; wider
    # data from the spectral partition.
    assert (small.pretrain.mixture_init, small.pretrain.gmm_covariance) == ("gmm", "full")
    # The spectral graph's neighbours: the mean cluster size, within [5, 40].
    assert small.pretrain.spectral_neighbors == 15
    assert _resolved(rng.normal(size=(400, 4)), model={"n_clusters": 40}).pretrain.spectral_neighbors == 10
    strokes = np.zeros((70_000, 784), np.float32)
    strokes[:, 300:310] = 1.0  # ink on a blank background
    large = _resolved(strokes)
    assert large.model.networks.hidden_dims == (500, 500,
                                                2000) and large.model.latent_dim == 10  # the paper's
    assert (large.pretrain.batch_size, large.train.batch_size, large.train.epochs) == (256, 100, 10)
    assert large.model.likelihood == "bernoulli" and large.train.jit_compile is True
    assert large.pretrain.mixture_init == "spectral" and large.model.standardize == "none"
    given = _resolved(np.zeros((150, 4), np.float32), train={"epochs": 3},
                      model={"networks": {"hidden_dims": [7]}, "latent_dim": 2})
    assert given.model.networks.hidden_dims == (7,) and given.model.latent_dim == 2
    assert given.train.epochs == 3
    # Continuous measurements inside [0, 1] are not Bernoulli data; pixels on a background are.
    assert _resolved(rng.uniform(0.2, 0.8, (100, 5)).astype(np.float32)).model.likelihood == "gaussian"
    pixels = np.where(rng.uniform(size=(100, 20)) < 0.5, 0.0, rng.uniform(size=(100, 20))).astype(np.float32)
    assert _resolved(pixels).model.likelihood == "bernoulli"
    # TF-IDF rows (unit length, most terms absent) are mostly zeros too, but their weights are small
    # fractions of [0, 1]: Gaussian, held dense or sparse.
    from sklearn.preprocessing import normalize

    counts = rng.poisson(0.2, size=(100, 200)).astype(np.float32)
    counts[:, 0] += 1  # no empty document
    tfidf = normalize(counts).astype(np.float32)
    assert np.mean(tfidf == 0) > 0.75 and tfidf[tfidf > 0].mean() < 0.2
    assert _resolved(tfidf).model.likelihood == "gaussian"
    assert recipe.likelihood_for(SparseRows(scipy.sparse.csr_matrix(tfidf)), "X") == "gaussian"
    assert recipe.likelihood_for(SparseRows(scipy.sparse.csr_matrix(pixels)), "X") == "bernoulli"
    # A table of measurements in [0, 1] with one column nearly always 0 (the yeast table's) is
    # continuous data, although a tenth of its values sit at the boundary.
    table = rng.uniform(0.2, 0.8, (100, 8)).astype(np.float32)
    table[:, 5] = np.where(rng.uniform(size=100) < 0.99, 0.0, 0.5)
    assert np.mean((table == 0) | (table == 1)) > recipe.BOUNDARY_SHARE
    assert _resolved(table).model.likelihood == "gaussian"
    assert recipe.likelihood_for(SparseRows(scipy.sparse.csr_matrix(table)), "X") == "gaussian"
    # Binary features, held sparse: the stored 1s count as boundary values of their own columns.
    binary = (rng.uniform(size=(100, 20)) < 0.3).astype(np.float32)
    assert recipe.likelihood_for(SparseRows(scipy.sparse.csr_matrix(binary)), "X") == "bernoulli"
    assert recipe.likelihood_for(binary, "X") == "bernoulli"


def test_auto_scaling_keeps_the_raw_geometry_unless_the_features_are_in_different_units():
    from vade_tf.scaling import UNIT_SPREAD, feature_moments, scaling_for

    rng = np.random.default_rng(0)
    spreads = np.array([1.0, 2.0, 0.5, 3.0, 1.5])
    similar = rng.normal(5.0, spreads, size=(200, 5)).astype(np.float32)
    assert _resolved(similar).model.standardize == "global"
    units = similar * np.array([1.0, 1.0, 1.0, 1.0, 10 * UNIT_SPREAD], np.float32)  # one in other units
    assert _resolved(units).model.standardize == "features"
    assert _resolved((rng.uniform(size=(50, 4)) < 0.5).astype(np.float32),  # Bernoulli data: not scaled
                     model={"likelihood": "bernoulli"}).model.standardize == "none"
    assert scaling_for(np.full((10, 3), 2.0)) == "global"  # nothing varies: only shifted
    # "global": each feature centred, one pooled deviation for all, so relative spreads are kept and the
    # scaled features' mean variance is 1; a constant feature is only shifted under "features".
    offset, scale = feature_moments(similar, "global")
    np.testing.assert_allclose(offset, similar.mean(axis=0), rtol=1e-6)
    assert np.ptp(scale) == 0 and np.isclose(np.mean(((similar - offset) / scale).var(axis=0)), 1.0)
    with_constant = np.c_[similar, np.full(200, 7.0, np.float32)]
    offset, scale = feature_moments(with_constant, "features")
    np.testing.assert_allclose(scale, np.r_[with_constant[:, :5].std(axis=0), 1.0], rtol=1e-5)
    sparse = feature_moments(SparseRows(scipy.sparse.csr_matrix(similar)), "global")
    np.testing.assert_allclose(sparse[1], feature_moments(similar, "global")[1], rtol=1e-6)


def test_standardize_names_a_scaling_and_each_scaling_its_own_checkpoints():
    from vade_tf import rundir

    with pytest.raises(ConfigError, match="model.standardize: expected a string, got True"):
        config_from_dict({"model": {"standardize": True}})
    assert rundir.training_digest(config_from_dict({"model": {"standardize": "global"}})) != \
        rundir.training_digest(config_from_dict({"model": {"standardize": "features"}}))
    with pytest.raises(ConfigError, match="standardize: unknown value 'yes'; allowed: features, global"):
        config_from_dict({"model": {"standardize": "yes"}})


def test_auto_is_refused_where_no_rule_derives_a_value():
    with pytest.raises(ConfigError, match=r"train.learning_rate: expected a number, got 'auto'"):
        config_from_dict({"train": {"learning_rate": "auto"}})
    with pytest.raises(ConfigError, match="train.epochs: expected an integer, got 'many'"):
        config_from_dict({"train": {"epochs": "many"}})


def _networks_copy(model, standardize: bool):
    from vade_tf.model import VaDE

    copy = VaDE.from_config({**model.get_config(), "standardize": standardize})
    copy.build((None, model.input_dim))
    for target, source in zip(copy.network_variables + copy.prior.mixture_variables,
                              model.network_variables + model.prior.mixture_variables, strict=True):
        target.assign(source)
    return copy


def test_a_standardising_models_elbo_is_the_raw_rows_density():
    x = np.random.default_rng(1).normal(1e4, 3e3, size=(12, 5)).astype(np.float32)
    model = make_vade(5, 3, hidden_dims=[8], likelihood="gaussian", covariance="full", standardize=True)
    mean, std = x.mean(axis=0), x.std(axis=0)
    model.set_standardization(mean, std)
    plain = _networks_copy(model, standardize=False)
    seed = tf.constant(7, tf.int64)
    raw = model.elbo_terms(tf.constant(x), samples=3, noise_seed=seed)
    scaled = plain.elbo_terms(tf.constant((x - mean) / std), samples=3, noise_seed=seed)
    # The change of variables: log p(x) = log p((x - m) / s) - sum_d log s_d, every other term equal.
    np.testing.assert_allclose(raw["elbo"], scaled["elbo"] - np.log(std).sum(), rtol=1e-5)
    np.testing.assert_allclose(raw["kl_z"], scaled["kl_z"], rtol=1e-5)
    np.testing.assert_allclose(model.encode(x)[0], plain.encoder((x - mean) / std)[0],
                               rtol=1e-5, atol=1e-6)
    clusters = tf.constant([0, 1], tf.int64)
    generated = model.generate(clusters, seed)["x_mean"].numpy()
    np.testing.assert_allclose(generated, plain.generate(clusters, seed)["x_mean"].numpy() * std + mean,
                               rtol=1e-5)


@pytest.fixture(scope="module")
def unscaled(tmp_path_factory):
    """A tiny estimator fitted on blobs moved to scale 1e4 (offset 1e5), no scaler: (estimator, x, folder)."""
    x, y = blobs(n_samples=90)
    x = (x * 1e4 + 1e5).astype(np.float32)
    estimator = VaDEClustering(**TINY_ESTIMATOR).fit(x)
    folder = tmp_path_factory.mktemp("unscaled")
    estimator.save(folder / "run")
    exporting.export(folder / "run", folder / "models")
    return estimator, x, y, folder


def test_features_of_scale_1e4_train_without_a_scaler(unscaled):
    from sklearn.metrics import adjusted_rand_score

    estimator, x, y, _ = unscaled
    model = estimator._trained.model
    assert estimator.config_.model.likelihood == "gaussian" and model.standardize
    assert estimator.config_.model.standardize == "global"  # the blobs' features share one unit
    np.testing.assert_allclose(model.feature_offset.numpy(), x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(model.feature_scale.numpy(), np.sqrt(x.astype(np.float64).var(axis=0).mean()),
                               rtol=1e-4)
    assert np.isfinite(estimator.score(x))
    # Invariance: the same blobs at unit scale are clustered the same, as the networks see the same rows.
    at_unit_scale = VaDEClustering(**TINY_ESTIMATOR).fit(blobs(n_samples=90)[0])
    assert adjusted_rand_score(at_unit_scale.labels_, estimator.labels_) > 0.99


def test_the_standardisation_survives_save_load_and_export(unscaled):
    estimator, x, _, folder = unscaled
    loaded = VaDEClustering.load(folder / "run")
    np.testing.assert_allclose(loaded.predict_proba(x), estimator.predict_proba(x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(loaded.score_samples(x), estimator.score_samples(x), rtol=1e-6)
    serving = tf.saved_model.load(str(folder / "models" / "1")).signatures["serving_default"]
    served = serving(x=tf.constant(x))  # raw rows: the moments are inside the SavedModel
    np.testing.assert_allclose(served["cluster_probs"].numpy(), estimator.predict_proba(x), atol=1e-5)
    np.testing.assert_allclose(served["z_mean"].numpy(), estimator.transform(x), rtol=1e-5, atol=1e-5)


def test_score_is_the_mean_of_score_samples(unscaled):
    estimator, x, _, _ = unscaled
    per_sample = estimator.score_samples(x)
    assert per_sample.shape == (len(x),) and np.all(np.isfinite(per_sample))
    np.testing.assert_array_equal(per_sample, estimator.score_samples(x))  # the draws come from a fixed seed
    assert estimator.score(x) == pytest.approx(per_sample.mean(), rel=1e-12)
    far = x.copy()
    far[0] += 1e6  # an outlier, a hundred standard deviations out
    assert estimator.score_samples(far)[0] < per_sample.min()


def test_rows_a_little_outside_0_1_get_clusters_and_only_the_elbo_refuses_them():
    from sklearn.preprocessing import MinMaxScaler

    x, _ = blobs(n_samples=60)
    scaler = MinMaxScaler().fit(x)
    estimator = VaDEClustering(**{**TINY_ESTIMATOR, "likelihood": "bernoulli"}).fit(scaler.transform(x))
    new = scaler.transform(x) + np.random.default_rng(0).normal(0, 0.005, x.shape)
    assert new.min() < 0 and new.max() > 1
    assert estimator.predict_proba(new).shape == (60, 3)
    assert estimator.transform(new).shape == (60, 2)
    with pytest.raises(ValueError, match=r"the bernoulli likelihood needs \[0, 1\]; score and score_samples"):
        estimator.score_samples(new)


def test_identical_rows_are_refused_in_one_line():
    with pytest.raises(ValueError, match="X has 1 distinct rows, fewer than model.n_clusters=3"):
        VaDEClustering(**TINY_ESTIMATOR).fit(np.full((60, 5), 0.5))


def test_constant_and_extreme_columns_train_to_finite_clusters():
    x, y = blobs(n_samples=60)
    x = np.column_stack([x, np.full(60, 7.0), 1e30 + 1e24 * x[:, 0]]).astype(np.float32)
    estimator = VaDEClustering(**TINY_ESTIMATOR).fit(x)
    assert np.all(np.isfinite(estimator.predict_proba(x))) and np.isfinite(estimator.score(x))


def test_a_collapse_is_said_once_when_it_starts_and_recorded():
    from vade_tf.evaluation import EpochScores
    from vade_tf.runs import first_collapse

    model = type("Model", (), {"n_clusters": 3})()
    scores = EpochScores(model, np.zeros((10, 2), np.float32), None, verbose=1)
    shares = iter([np.array([0, 1, 2] * 3 + [0]), np.zeros(10, int), np.zeros(10, int), np.zeros(10, int)])
    scores.assign = lambda x: next(shares)
    printed, history = io.StringIO(), []
    with contextlib.redirect_stdout(printed):
        for epoch in range(4):
            history.append({"epoch": epoch + 1, **scores(epoch)})
    assert printed.getvalue().count("collapsed") == 1 and "epoch 2:" in printed.getvalue()
    assert first_collapse(history, 3) == {"epoch": 2, "largest_cluster": 1.0}
    assert first_collapse(history[:1], 3) is None


def test_a_small_fit_keeps_its_start_on_separated_clusters_from_the_first_epoch():
    x, _ = blobs(n_samples=150, n_features=6, seed=3)
    estimator = VaDEClustering(n_clusters=3, epochs=2, random_state=0, settings={**FAST}).fit(x)
    first = estimator.metrics_["restarts"][0]["epochs"][0]
    assert first["partition_agreement"] >= 0.98 and estimator.metrics_["collapse"] is None


def test_a_run_trains_each_start_from_one_autoencoder_and_keeps_the_best_elbo(tmp_path):
    from sklearn.cluster import KMeans

    x, _ = blobs(n_samples=90)
    two_starts = {**TINY_ESTIMATOR["settings"], "pretrain.other_starts": ["kmeans"]}
    estimator = VaDEClustering(**{**TINY_ESTIMATOR, "settings": two_starts}, run_dir=str(tmp_path / "run"))
    estimator.fit(x)
    records = estimator.metrics_["restarts"]
    assert [(r["start"], r["directory"]) for r in records] == [("spectral", "."), ("kmeans", "start_kmeans")]
    elbos = [r["final"]["elbo"] for r in records]
    best = estimator.metrics_["best_restart"]
    assert best == int(np.argmax(elbos)) and estimator.metrics_["elbo"] == elbos[best]
    # The kmeans start is k-means of the features as given, its prior set on the shared autoencoder.
    partition = np.load(tmp_path / "run" / "start_kmeans" / "pretrain" / "partition.npy")
    expected = KMeans(3, n_init=1, random_state=0).fit_predict(x.astype(np.float64))
    np.testing.assert_array_equal(partition, expected)
    # The saved model is the kept start's: its score is the run's final ELBO, estimated anew.
    assert estimator.score(x) == pytest.approx(estimator.metrics_["elbo"], rel=0.05)
    one = VaDEClustering(**TINY_ESTIMATOR).fit(x)  # the default: mixture_init's start alone
    assert [r["start"] for r in one.metrics_["restarts"]] == ["spectral"]
