"""VaDEClustering as scikit-learn users hold it: fitted attributes that agree with each other, a saved
estimator read back in a fresh process, Pipeline and GridSearchCV, DataFrame and sparse input, and a
vade-train run directory loaded as an estimator."""
import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse
from conftest import TINY_ESTIMATOR, blobs
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vade_tf import VaDEClustering, exporting

# Reads a saved estimator in a fresh interpreter and writes what it predicts.
LOAD_AND_PREDICT = """
import json, sys, numpy as np
from vade_tf import VaDEClustering
estimator = VaDEClustering.load(sys.argv[1])
x = np.load(sys.argv[2])
np.savez(sys.argv[3], proba=estimator.predict_proba(x), labels=estimator.labels_,
         params=json.dumps(estimator.get_params(), sort_keys=True))
"""


@pytest.fixture(scope="module")
def fitted():
    x, _ = blobs()
    return VaDEClustering(**TINY_ESTIMATOR).fit(x), x


def test_predictions_probabilities_and_embeddings_agree(fitted):
    estimator, x = fitted
    np.testing.assert_array_equal(estimator.predict(x), estimator.labels_)
    proba = estimator.predict_proba(x)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(proba.argmax(axis=1), estimator.predict(x))
    assert estimator.transform(x).shape == (60, 2) and estimator.n_features_in_ == 4
    assert estimator.weights_.shape == (3,) and np.isclose(estimator.weights_.sum(), 1.0)
    assert estimator.means_.shape == (3, 2) and estimator.covariances_.shape == (3, 2, 2)
    for covariance in estimator.covariances_:  # full covariances: symmetric, positive definite
        np.testing.assert_allclose(covariance, covariance.T, rtol=1e-6)
        assert np.all(np.linalg.eigvalsh(covariance) > 0)
    # A fit is a function of random_state: a clone fitted again gives the same clusters.
    np.testing.assert_array_equal(clone(estimator).fit_predict(x), estimator.labels_)


def test_a_rows_outputs_do_not_depend_on_the_other_rows_or_their_order(fitted):
    # scikit-learn's own order and subset checks ask for rtol 1e-7; float32 matrix products round a row
    # by its position in the batch on some CPUs, so the property is asserted here to float32 precision.
    estimator, x = fitted
    order = np.random.default_rng(0).permutation(len(x))
    for method in (estimator.predict_proba, estimator.transform, estimator.score_samples):
        whole = method(x)
        np.testing.assert_allclose(method(x[order]), whole[order], rtol=1e-5, atol=1e-6)
        halves = np.concatenate([method(x[:25]), method(x[25:])])
        np.testing.assert_allclose(halves, whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(estimator.predict(x[order]), estimator.predict(x)[order])


def test_score_is_the_mean_elbo_and_the_same_each_call(fitted):
    estimator, x = fitted
    score = estimator.score(x)
    assert np.isfinite(score) and score == estimator.score(x)
    assert score == pytest.approx(estimator.metrics_["elbo"], rel=0.05)  # the run's final ELBO, re-estimated


def test_sample_draws_from_the_named_cluster_and_is_seeded(fitted):
    estimator, _ = fitted
    x, clusters = estimator.sample(5, cluster=1)
    assert x.shape == (5, 4) and np.all(clusters == 1)
    again, _ = estimator.sample(5, cluster=1)
    np.testing.assert_array_equal(x, again)
    _, drawn = estimator.sample(200)
    assert set(drawn) <= {0, 1, 2}
    with pytest.raises(ValueError, match="cluster must be in 0..2"):
        estimator.sample(2, cluster=3)


def test_a_saved_estimator_predicts_the_same_in_a_fresh_process(fitted, tmp_path):
    estimator, x = fitted
    estimator.save(tmp_path / "saved")
    exporting.check_run(tmp_path / "saved")  # a run directory vade-export accepts
    np.save(tmp_path / "x.npy", x)
    result = subprocess.run([sys.executable, "-c", LOAD_AND_PREDICT, tmp_path / "saved", tmp_path / "x.npy",
                             tmp_path / "out.npz"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(out["proba"], estimator.predict_proba(x), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(out["proba"].argmax(axis=1), estimator.labels_)
    np.testing.assert_array_equal(out["labels"], estimator.labels_)
    assert str(out["params"]) == json.dumps(estimator.get_params(), sort_keys=True)
    with pytest.raises(ValueError, match="is not empty"):
        estimator.save(tmp_path / "saved")


def test_in_a_pipeline_after_a_scaler_and_in_a_grid_search(fitted):
    _, x = fitted
    pipeline = make_pipeline(StandardScaler(), VaDEClustering(**TINY_ESTIMATOR))
    copy = clone(pipeline)
    assert copy.get_params()["vadeclustering__settings"] == TINY_ESTIMATOR["settings"]
    copy.set_params(vadeclustering__latent_dim=3)
    assert copy.get_params()["vadeclustering__latent_dim"] == 3
    search = GridSearchCV(pipeline, {"vadeclustering__latent_dim": [2, 3]}, cv=2).fit(x)  # scored by the ELBO
    assert search.best_params_["vadeclustering__latent_dim"] in (2, 3)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.predict(x).shape == (60,)
    assert search.best_estimator_[-1].transform(StandardScaler().fit_transform(x)).shape[1] == \
        search.best_params_["vadeclustering__latent_dim"]


def test_a_dataframe_and_a_sparse_matrix_give_the_dense_arrays_clusters(fitted):
    import pandas as pd

    estimator, x = fitted
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    from_frame = VaDEClustering(**TINY_ESTIMATOR).fit(frame)
    np.testing.assert_array_equal(from_frame.labels_, estimator.labels_)
    assert list(from_frame.feature_names_in_) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(from_frame.predict(frame), estimator.labels_)
    sparse_x = scipy.sparse.csr_matrix(np.where(np.abs(x) > 3, x, 0))  # two thirds zeros
    from_sparse = VaDEClustering(**TINY_ESTIMATOR).fit(sparse_x)
    from_dense = VaDEClustering(**TINY_ESTIMATOR).fit(sparse_x.toarray())
    np.testing.assert_array_equal(from_sparse.labels_, from_dense.labels_)
    np.testing.assert_array_equal(from_sparse.predict(sparse_x.tocsc()), from_dense.labels_)
    np.testing.assert_allclose(from_sparse.transform(sparse_x), from_dense.transform(sparse_x.toarray()))


def test_new_data_must_match_what_it_was_fitted_on(fitted):
    estimator, x = fitted
    with pytest.raises(ValueError, match="X has 3 features, but VaDEClustering is expecting 4"):
        estimator.predict(x[:, :3])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        estimator.transform(np.where(x > 5, np.nan, x))


def test_a_vade_train_run_loads_as_an_estimator(digits_run):
    from vade_tf.config import DataConfig
    from vade_tf.data import load_dataset
    from vade_tf.metrics import cluster_accuracy

    run_dir, _ = digits_run
    estimator = VaDEClustering.load(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    digits = load_dataset(DataConfig())
    assert estimator.n_features_in_ == 64 and estimator.get_params()["random_state"] == metrics["seed"]
    assert cluster_accuracy(digits.y, estimator.predict(digits.x)) == pytest.approx(metrics["acc"])
    assert estimator.get_params()["settings"]["logging.image_every"] == 1  # the run's own settings
    assert estimator.predict(digits.x * 16).shape == (len(digits.x),)  # encoding takes any finite row
    with pytest.raises(ValueError, match="the bernoulli likelihood needs"):
        estimator.score(digits.x * 16)
