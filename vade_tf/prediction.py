"""Clusters for new data, what ``vade-predict`` does: a file of rows in, a CSV of clusters out.

The model is a run directory's, or an export's (``--export-dir BASE/N``: TensorFlow alone). One
output row per input row: its cluster, the cluster's label when training learned a cluster-to-label
map (a labelled run), its ELBO (``elbo``: low for an outlier) and the probability of every cluster.
Rows are read, checked and clustered a batch at a time (a .npy is memory-mapped, a .csv read a batch
of lines at a time; an .npz is read whole, as NumPy stores it compressed), so memory holds a batch,
not the file. The output goes to a
temporary file renamed at the end: a failure leaves no partial clusters.csv.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import numpy as np

from vade_tf import files
from vade_tf.data.user_files import read_batches
from vade_tf.errors import DataError, ExportError


class Clusterer(NamedTuple):
    """What predicting needs of a trained model, from a run directory or an export."""
    probabilities: Callable[[np.ndarray], np.ndarray]   # rows [B, D] -> gamma [B, K]
    elbos: Callable[[np.ndarray], np.ndarray]            # rows [B, D] -> each row's ELBO [B]
    input_dim: int
    likelihood: str
    cluster_to_label: Optional[dict]                     # {"cluster": label} of a labelled run


def from_run(run_dir: Path) -> Clusterer:
    from vade_tf.evaluation import sample_elbos
    from vade_tf.exporting import load_run
    from vade_tf.inference import cluster_probabilities

    model, _, metrics = load_run(run_dir)
    return Clusterer(cluster_probabilities(model, jit_compile=False), lambda rows: sample_elbos(model, rows),
                     model.input_dim, model.likelihood, metrics.get("cluster_to_label"))


def from_export(version_dir: Path) -> Clusterer:
    from vade_tf.exporting import CONTRACT_FILE

    contract_file = version_dir / "assets" / CONTRACT_FILE
    if not (version_dir / "saved_model.pb").exists() or not contract_file.exists():
        raise ExportError(f"{version_dir} is not a vade-export version folder (saved_model.pb and "
                          f"assets/{CONTRACT_FILE}); pass --export-dir BASE/N")
    contract = json.loads(contract_file.read_text())
    if len(contract["shape"]) != 2:
        raise ExportError(f"{version_dir} takes images ({contract['preprocessing']}); send them to TF "
                          "Serving, or export the run without --images")
    import tensorflow as tf

    from vade_tf.model import ROW_ELBO_SEED

    signatures = tf.saved_model.load(str(version_dir)).signatures
    if "score" not in signatures:
        raise ExportError(f"{version_dir} was exported by an earlier vade-tf, without the score signature; "
                          "export the run again")
    serve, score = signatures["serving_default"], signatures["score"]

    def elbos(rows: np.ndarray) -> np.ndarray:
        return score(**{contract["input"]: tf.constant(rows),
                        "seed": tf.constant(ROW_ELBO_SEED, tf.int64)})["elbo"].numpy()

    return Clusterer(lambda rows: serve(**{contract["input"]: tf.constant(rows)})["cluster_probs"].numpy(),
                     elbos, contract["shape"][1], contract["likelihood"],
                     contract.get("cluster_to_label"))


def predict_file(clusterer: Clusterer, source: Path, output: Path, batch_size: int) -> int:
    """Cluster every row of ``source`` into ``output`` (CSV); returns the number of rows. Any finite row
    of the model's width gets its cluster; its ``elbo`` is left empty when the row lies outside the
    likelihood's support (a Bernoulli model's [0, 1]), where the ELBO is no density."""
    from vade_tf.registry import LIKELIHOODS
    from vade_tf.validation import check_values

    support = LIKELIHOODS[clusterer.likelihood].support
    counted = 0

    def write(binary) -> None:
        nonlocal counted
        text = io.TextIOWrapper(binary, newline="", encoding="utf-8")
        writer = csv.writer(text)
        labelled = clusterer.cluster_to_label is not None
        header = ["cluster", *(["label"] if labelled else [])]
        first = True
        for rows in read_batches(source, batch_size):
            if rows.shape[1] != clusterer.input_dim:
                raise DataError(f"{source}: rows have {rows.shape[1]} features but the model takes "
                                f"{clusterer.input_dim}; pass the features it was trained on")
            check_values(rows, f"{source} rows {counted + 1}-{counted + len(rows)}", None)
            gamma = clusterer.probabilities(rows)
            inside = np.ones(len(rows), bool) if support is None else \
                ((rows >= support[0]) & (rows <= support[1])).all(axis=1)
            elbos = np.full(len(rows), np.nan)
            if inside.any():
                elbos[inside] = clusterer.elbos(rows[inside])
            if first:
                writer.writerow(header + ["elbo"] + [f"p{c}" for c in range(gamma.shape[1])])
                first = False
            for cluster, elbo, probabilities in zip(gamma.argmax(axis=1), elbos, gamma):
                label = [clusterer.cluster_to_label[str(cluster)]] if labelled else []
                writer.writerow([int(cluster), *label, "" if np.isnan(elbo) else f"{elbo:.6g}",
                                 *(f"{p:.6g}" for p in probabilities)])
            counted += len(rows)
        if first:
            raise DataError(f"{source} has no rows to cluster")
        text.flush()
        text.detach()

    files.write_atomically(output, write)
    return counted
