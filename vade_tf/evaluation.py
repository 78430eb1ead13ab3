"""Scores of a model: the ELBO (enough z draws to rank recipes), and against labels, on the samples it
trained on and on another split (the held-out protocol); and each epoch's scores while it trains
(``EpochScores``)."""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
import tensorflow as tf

from vade_tf.config import Config
from vade_tf.data import Dataset, load_dataset
from vade_tf.data.pipeline import inference_dataset
from vade_tf.errors import ConfigError
from vade_tf.inference import BATCH_SIZE, assign_clusters, cluster_assigner
from vade_tf.metrics import cluster_accuracy, cluster_to_label, clustering_scores
from vade_tf.model import ROW_ELBO_SEED, VaDE


def elbo_estimate(model: VaDE, x, draws: int) -> dict:
    """Mean ELBO terms over the samples of ``x``, from about ``draws`` z draws in all (at least one a
    sample). The ELBO chooses between restarts and recipes, so its Monte-Carlo error must sit below the
    differences it decides: with one draw a sample it is too noisy on a few thousand samples."""
    samples = max(1, -(-draws // len(x)))
    totals: dict = {}
    for batch in inference_dataset(x, max(1, BATCH_SIZE // samples)):
        for name, value in model.summed_elbo_terms(batch, samples).items():
            totals[name] = totals.get(name, 0.0) + float(value)
    return {name: totals[name] / len(x) for name in ("elbo", "reconstruction", "kl_z", "kl_c")}


def sample_elbos(model: VaDE, x, seed: int = ROW_ELBO_SEED) -> np.ndarray:
    """The ELBO of each sample of ``x`` [N] (``VaDE.row_elbos``, seeded by ``seed``): ``score_samples``,
    and a column of ``vade-predict``'s output. A row's value depends on the row and the seed only."""
    seed = tf.constant(seed, tf.int64)
    return np.concatenate([model.row_elbos(batch, seed).numpy().astype(np.float64)
                           for batch in inference_dataset(x, BATCH_SIZE)])


def evaluate(model: VaDE, data: Dataset, elbo_draws: int, jit_compile: bool = True) -> dict:
    """Mean ELBO terms over all samples (``elbo_estimate``); with labels, the clustering scores and the
    cluster-to-label map."""
    result = elbo_estimate(model, data.x, elbo_draws)
    if data.y is not None:
        assignments = assign_clusters(model, data.x, jit_compile)
        result.update(clustering_scores(data.y, assignments))
        # The Hungarian map behind ACC, kept so an export can name each cluster's label.
        mapping = cluster_to_label(data.y, assignments)
        result["cluster_to_label"] = {str(cluster): label for cluster, label in mapping.items()}
    return result


def evaluation_scores(assign, evaluation_data: Dataset, split: str) -> dict:
    """Clustering scores of ``assign`` (features -> clusters) on another split: the held-out protocol.
    Its own Hungarian match: the clusters are scored as a partition of those samples."""
    return {"split": split, "n_samples": int(len(evaluation_data.x)),
            **clustering_scores(evaluation_data.y, assign(evaluation_data.x))}


def load_evaluation_data(config: Config) -> Optional[Dataset]:
    """The ``data.evaluate_split`` samples, loaded before training so a missing file fails first."""
    if config.data.evaluate_split is None:
        return None
    data = load_dataset(dataclasses.replace(config.data, split=config.data.evaluate_split))
    if data.y is None:
        raise ConfigError(f"data.evaluate_split: {data.name} has no labels to score clusters against; "
                          "remove the key")
    return data


class EpochScores:
    """Each epoch's scores of the model's assignment of all samples (one encoder pass):
    ``largest_cluster``, the share of samples in the biggest cluster, which warns of a collapse the
    moment it happens; ``partition_agreement`` when the starting partition is known, the ACC of the
    assignment against it, an unsupervised measure of how far training moved from its start;
    ACC/NMI/ARI/V-measure when labels exist; and with ``evaluation`` (the held-out protocol's other
    split), that split's scores as ``evaluation_acc`` and so on, so its curve is on record too."""

    COLLAPSED = 0.9  # a largest_cluster share at which (nearly) every sample sits in one cluster

    def __init__(self, model, x: np.ndarray, y: Optional[np.ndarray], verbose: int = 1,
                 partition: Optional[np.ndarray] = None, evaluation: Optional[Dataset] = None,
                 jit_compile: bool = True):
        self.model, self.x, self.y, self.verbose, self.partition = model, x, y, verbose, partition
        self.evaluation = evaluation
        self.assign = cluster_assigner(model, jit_compile)
        self.collapsed = False  # whether the last epoch ended collapsed

    def __call__(self, epoch: int) -> dict:
        """The scores at the end of epoch ``epoch`` (0-based); a collapse is said when it starts."""
        assignments = self.assign(self.x)
        scores = {"largest_cluster": float(np.bincount(assignments).max() / len(assignments))}
        if self.partition is not None:
            scores["partition_agreement"] = cluster_accuracy(self.partition, assignments)
        if self.y is not None:
            scores.update(clustering_scores(self.y, assignments))
        if self.evaluation is not None:
            held_out = clustering_scores(self.evaluation.y, self.assign(self.evaluation.x))
            scores.update({f"evaluation_{name}": value for name, value in held_out.items()})
        collapsed = scores["largest_cluster"] >= self.COLLAPSED and self.model.n_clusters > 1
        if collapsed and not self.collapsed and self.verbose:  # said once, when it starts
            print(f"warning: epoch {epoch + 1}: {scores['largest_cluster']:.0%} of the samples sit in "
                  "one cluster: the clustering has collapsed; try train.partition_warmup_epochs, a "
                  "smaller train.mixture_learning_rate or another seed", flush=True)
        self.collapsed = collapsed
        return scores
