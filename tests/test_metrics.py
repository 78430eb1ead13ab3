import numpy as np
import pytest

from vade_tf.metrics import cluster_accuracy, cluster_to_label, clustering_scores, contingency, knn_error


def test_known_value_on_a_hand_made_example():
    y_true = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([2, 2, 1, 0, 0, 0, 1, 1, 1, 2])
    # Best map: 2->0 (2 right), 0->1 (3 right), 1->2 (3 right): 8 of 10.
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(0.8)
    assert cluster_to_label(y_true, y_pred) == {0: 1, 1: 2, 2: 0}


def test_invariant_to_relabelling_the_clusters():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 5, size=300)
    y_pred = np.where(rng.uniform(size=300) < 0.7, y_true, rng.integers(0, 5, size=300))
    permuted = rng.permutation(5)[y_pred]
    for key, value in clustering_scores(y_true, y_pred).items():
        assert clustering_scores(y_true, permuted)[key] == pytest.approx(value), key
    assert cluster_accuracy(y_true, permuted) > 0.7


def test_more_clusters_than_classes_counts_surplus_clusters_as_errors():
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    y_pred = np.array([0, 0, 2, 2, 1, 1, 1, 3])   # 4 clusters, 2 classes
    # One-to-one: 0->0 (2 right) and 1->1 (3 right); clusters 2 and 3 get no label.
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(5 / 8)


def test_fewer_clusters_than_classes():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 1, 1, 1, 1])         # classes 1 and 2 merged
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(4 / 6)


def test_perfect_clustering_scores_one_everywhere():
    y = np.repeat(np.arange(4), 5)
    scores = clustering_scores(y, (y + 1) % 4)
    assert scores == pytest.approx({"acc": 1.0, "nmi": 1.0, "ari": 1.0, "v_measure": 1.0})


def test_contingency_counts():
    table = contingency(np.array([0, 1, 1]), np.array([1, 1, 0]))
    np.testing.assert_array_equal(table, [[0, 1], [1, 1]])


def test_knn_error_known_answers():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    y_train, y_test = rng.integers(0, 3, 300), rng.integers(0, 3, 100)
    z_train = centres[y_train] + rng.normal(size=(300, 2))
    z_test = centres[y_test] + rng.normal(size=(100, 2))
    assert knn_error(z_train, y_train, z_test, y_test, k=5) == 0.0           # separated classes
    # A latent that ignores the classes leaves chance: about 2/3 wrong for three balanced classes.
    noise_train, noise_test = rng.normal(size=(300, 2)), rng.normal(size=(100, 2))
    assert 0.5 < knn_error(noise_train, y_train, noise_test, y_test, k=5) < 0.85
    # k = 1 on the training points themselves is exact.
    assert knn_error(z_train, y_train, z_train, y_train, k=1) == 0.0
