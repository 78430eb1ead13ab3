"""Clustering metrics: ACC under the best one-to-one cluster-to-label map, NMI, ARI, V-measure;
and the kNN error of a latent space (the paper's Table 3)."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics
from sklearn.neighbors import KNeighborsClassifier


def contingency(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Counts [n_clusters, n_classes]: how many samples of class j went to cluster i."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    table = np.zeros((y_pred.max() + 1, y_true.max() + 1), dtype=np.int64)
    np.add.at(table, (y_pred, y_true), 1)
    return table


def cluster_to_label(y_true: np.ndarray, y_pred: np.ndarray) -> dict[int, int]:
    """The Hungarian (maximum-agreement) one-to-one map from clusters to labels.

    With more clusters than labels the surplus clusters map to nothing and count as errors; with
    fewer, the surplus labels are never predicted. Both follow from a rectangular assignment.
    """
    table = contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return {int(r): int(c) for r, c in zip(rows, cols)}


def cluster_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """ACC = max over one-to-one maps m of mean(y_true == m(y_pred)) (Eq. 18 of the paper)."""
    table = contingency(y_true, y_pred)
    matched = sum(table[cluster, label] for cluster, label in cluster_to_label(y_true, y_pred).items())
    return float(matched / len(y_true))


def clustering_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    return {
        "acc": cluster_accuracy(y_true, y_pred),
        "nmi": float(metrics.normalized_mutual_info_score(y_true, y_pred)),
        "ari": float(metrics.adjusted_rand_score(y_true, y_pred)),
        "v_measure": float(metrics.v_measure_score(y_true, y_pred)),
    }


def knn_error(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray,
              k: int) -> float:
    """Test error of a k-nearest-neighbour classifier fitted on the training split's latent means:
    how well the unsupervised latent separates the classes (Table 3 of the paper)."""
    classifier = KNeighborsClassifier(n_neighbors=k).fit(z_train, y_train)
    return float(1.0 - classifier.score(z_test, y_test))
