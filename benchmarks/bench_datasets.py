"""VaDE's defaults on data nobody tuned them for, against the baselines a user tries first.

    python -m benchmarks.bench_datasets --data-dir DIR --mnist-dir DIR --fashion-dir DIR \\
        --seeds 0 1 2 --out results/bench-datasets.json

For every dataset of the suite and every seed it fits, on X as given (no scaler):
scikit-learn's ``KMeans(K, n_init=10)``, a full-covariance ``GaussianMixture(K)`` (where K D^2 stays
small enough to fit in memory), and ``VaDEClustering(n_clusters=K, random_state=seed)`` with its
defaults; it records each one's ACC / NMI and seconds, VaDE's starting partition (the one its
training starts from) and every epoch's ELBO and largest cluster share. Labels only score: nothing
here is chosen by them.

The suite: scikit-learn's bundled iris, wine, breast_cancer and digits (pixel values 0-16, as
bundled); random subsets of 300 and 2,000 MNIST and Fashion-MNIST images (of train and test, subset
seed 0, pixels / 255); and every ``NAME.npz`` (arrays ``X`` and ``y``) in ``--data-dir`` that
``benchmarks.fetched_sets`` writes: public labelled sets converted from their original files
(their sources in its ``SOURCES``). A dataset whose files are absent is skipped and said so.

Each (dataset, seed) is one record in ``--runs-dir``/NAME/seed-S/result.json: an interrupted
benchmark picks up where it stopped, reading finished records back; ``--out`` gathers them all.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from benchmarks.fetched_sets import SOURCES
from benchmarks.suite import (
    Suite,
    code_commit,
    finished_record,
    over_suite,
    suite_parser,
    suite_sets,
    write_record,
)
from vade_tf import files, rundir
from vade_tf.evaluation import EpochScores
from vade_tf.metrics import clustering_scores

# A full-covariance GaussianMixture holds K covariance matrices of D x D (and EM works on a few
# copies): above this many values it is not fitted, and the record says so.
GMM_MAX_VALUES = 20_000_000


def _bundled(name: str) -> Callable[[Suite], Optional[tuple]]:
    def load(suite: Suite):
        import sklearn.datasets

        x, y = getattr(sklearn.datasets, f"load_{name}")(return_X_y=True)
        return x.astype(np.float32), y
    return load


def _image_subset(dataset: str, size: int) -> Callable[[Suite], Optional[tuple]]:
    def load(suite: Suite):
        from vade_tf.config import DataConfig
        from vade_tf.data import load_dataset

        directory = suite.mnist_dir if dataset == "mnist" else suite.fashion_dir
        if directory is None:
            return None
        data = load_dataset(DataConfig(name=dataset, dir=str(directory), download=False))
        index = np.sort(np.random.default_rng(0).choice(len(data.x), size, replace=False))
        return data.x[index], data.y[index]
    return load


def _fetched(name: str) -> Callable[[Suite], Optional[tuple]]:
    def load(suite: Suite):
        path = None if suite.data_dir is None else suite.data_dir / f"{name}.npz"
        if path is None or not path.exists():
            return None
        with np.load(path) as archive:
            return archive["X"].astype(np.float32), archive["y"]
    return load


# name -> its loader, and what it is.
DATASETS: dict[str, tuple[Callable, str]] = {
    "iris": (_bundled("iris"), "scikit-learn's iris, 150 x 4, 3 classes"),
    "wine": (_bundled("wine"), "scikit-learn's wine, 178 x 13 (unscaled chemistry), 3 classes"),
    "breast_cancer": (_bundled("breast_cancer"), "scikit-learn's breast cancer, 569 x 30, 2 classes"),
    "digits": (_bundled("digits"), "scikit-learn's 8x8 digits, 1,797 x 64, values 0-16, 10 classes"),
    "mnist-300": (_image_subset("mnist", 300), "300 random MNIST images, 784 pixels in [0, 1]"),
    "mnist-2000": (_image_subset("mnist", 2000), "2,000 random MNIST images"),
    "fashion-300": (_image_subset("fashion_mnist", 300), "300 random Fashion-MNIST images"),
    "fashion-2000": (_image_subset("fashion_mnist", 2000), "2,000 random Fashion-MNIST images"),
}
# The public sets read from --data-dir, as benchmarks.fetched_sets converts them.
DATASETS.update({name: (_fetched(name), source.what) for name, source in SOURCES.items()})


def _timed(fit: Callable[[], np.ndarray], y: np.ndarray) -> dict:
    start = time.perf_counter()
    labels = fit()
    return {**clustering_scores(y, labels), "seconds": time.perf_counter() - start}


def baselines(x: np.ndarray, y: np.ndarray, k: int, seed: int) -> dict:
    """k-means and a full-covariance GaussianMixture on the raw features: what a user tries first."""
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    x64 = x.astype(np.float64)
    record = {"kmeans": _timed(lambda: KMeans(k, n_init=10, random_state=seed).fit_predict(x64), y)}
    if k * x.shape[1] ** 2 > GMM_MAX_VALUES:
        record["gmm_full"] = {"skipped": f"K D^2 = {k * x.shape[1] ** 2:,} values of covariance"}
    else:
        try:
            record["gmm_full"] = _timed(lambda: GaussianMixture(k, covariance_type="full", random_state=seed)
                                        .fit(x64).predict(x64), y)
        except ValueError as e:  # EM's covariances became singular: what the user would see
            record["gmm_full"] = {"failed": str(e).splitlines()[0]}
    return record


def estimator_arguments(settings: dict) -> dict:
    """``VaDEClustering``'s keyword arguments for config keys: a parameter's key through its
    parameter, every other key through ``settings``."""
    from vade_tf.parameters import PARAMETER_OF

    others = {key: value for key, value in settings.items() if key not in PARAMETER_OF}
    return {**{PARAMETER_OF[key]: value for key, value in settings.items() if key in PARAMETER_OF},
            "settings": others or None}


def vade(x: np.ndarray, y: np.ndarray, k: int, seed: int, run_dir: Path, settings: dict) -> dict:
    """``VaDEClustering(n_clusters=k, random_state=seed).fit(x)`` with the defaults (and ``settings``,
    config keys: a parameter's through the parameter): its start, its final clusters, every epoch's
    ELBO, partition agreement and largest cluster, and the seconds."""
    from vade_tf import VaDEClustering

    shutil.rmtree(run_dir, ignore_errors=True)  # an interrupted fit starts afresh: it is short
    start = time.perf_counter()
    model = VaDEClustering(n_clusters=k, random_state=seed, **estimator_arguments(settings),
                           run_dir=str(run_dir)).fit(x)
    seconds = time.perf_counter() - start
    restart = model.metrics_["restarts"][model.metrics_["best_restart"]]  # the start the ELBO kept
    partition = np.load(run_dir / restart["directory"] / rundir.PRETRAIN_DIR / rundir.PRETRAIN_PARTITION)
    epochs = [{key: epoch[key] for key in ("epoch", "elbo", "largest_cluster", "partition_agreement")
               if key in epoch}
              for epoch in restart["epochs"]]
    return {"start": clustering_scores(y, partition), "start_method": restart["start"],
            "start_directory": restart["directory"], "final": clustering_scores(y, model.labels_),
            "elbo": model.metrics_["elbo"], "seconds": seconds, "epochs": epochs,
            "largest_cluster_max": max((e["largest_cluster"] for e in epochs), default=None),
            "collapse": model.metrics_.get("collapse"), "config": model.config_.to_dict()}


def run_one(name: str, x: np.ndarray, y: np.ndarray, seed: int, runs_dir: Path, settings: dict,
            command: str) -> dict:
    """The record of one dataset and seed, read back when a finished one matches ``settings``."""
    path, finished = finished_record(runs_dir, name, seed, settings)
    if finished is not None:
        return finished
    k = int(len(np.unique(y)))
    record = {"dataset": name, "seed": seed, "n_samples": int(x.shape[0]), "n_features": int(x.shape[1]),
              "n_clusters": k, "largest_class": float(np.bincount(np.unique(y, return_inverse=True)[1]).max()
                                                      / len(y)),
              "settings": settings, "command": command, "commit": code_commit(),
              "versions": rundir.library_versions(), **baselines(x, y, k, seed)}
    record["vade"] = vade(x, y, k, seed, path.parent / "vade", settings)
    files.write_json(path, record)
    return record


def summary(records: list[dict]) -> dict:
    """Per dataset: the medians over seeds, and whether VaDE's median ACC holds k-means' and its start."""
    table = {}
    for name in dict.fromkeys(r["dataset"] for r in records):
        mine = [r for r in records if r["dataset"] == name]

        def median(get) -> float:
            return float(np.median([get(r) for r in mine]))

        row = {"seeds": [r["seed"] for r in mine], "n_samples": mine[0]["n_samples"],
               "n_features": mine[0]["n_features"], "n_clusters": mine[0]["n_clusters"],
               "kmeans_acc": median(lambda r: r["kmeans"]["acc"]),
               "start_acc": median(lambda r: r["vade"]["start"]["acc"]),
               "vade_acc": median(lambda r: r["vade"]["final"]["acc"]),
               "vade_nmi": median(lambda r: r["vade"]["final"]["nmi"]),
               "vade_seconds": median(lambda r: r["vade"]["seconds"]),
               "largest_cluster_max": max(r["vade"]["largest_cluster_max"] or 0 for r in mine),
               "largest_class": mine[0]["largest_class"]}
        gmm = [r["gmm_full"]["acc"] for r in mine if "acc" in r["gmm_full"]]
        row["gmm_full_acc"] = float(np.median(gmm)) if gmm else None
        row["holds_kmeans"] = row["vade_acc"] >= row["kmeans_acc"]
        row["holds_start"] = row["vade_acc"] >= row["start_acc"]
        collapsed = max(EpochScores.COLLAPSED, row["largest_class"])  # unless a class is that large
        row["no_collapse"] = row["largest_cluster_max"] <= collapsed
        table[name] = row
    return table


def markdown(table: dict) -> str:
    lines = ["| dataset | N x D, K | k-means | full GMM | VaDE start | VaDE final (NMI) | VaDE s | "
             "largest cluster | holds |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in table.items():
        gmm = "-" if r["gmm_full_acc"] is None else f"{100 * r['gmm_full_acc']:.1f}"
        holds = "yes" if r["holds_kmeans"] and r["holds_start"] and r["no_collapse"] else "**no**"
        lines.append(f"| {name} | {r['n_samples']} x {r['n_features']}, {r['n_clusters']} | "
                     f"{100 * r['kmeans_acc']:.1f} | {gmm} | {100 * r['start_acc']:.1f} | "
                     f"{100 * r['vade_acc']:.1f} ({r['vade_nmi']:.3f}) | {r['vade_seconds']:.0f} | "
                     f"{r['largest_cluster_max']:.2f} | {holds} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from vade_tf.dotted import parse_override

    args = suite_parser(__doc__.splitlines()[0], DATASETS, "runs/bench-datasets").parse_args(argv)
    settings = dict(parse_override(item) for item in args.set)
    command = "python -m benchmarks.bench_datasets " + " ".join(argv if argv is not None else
                                                                    __import__("sys").argv[1:])
    sets, skipped = suite_sets(args, {name: load for name, (load, _) in DATASETS.items()})
    records = over_suite(sets, args.seeds,
                         lambda name, x, y, seed: run_one(name, x, y, seed, args.runs_dir, settings, command),
                         lambda name, seed, r: (
                             f"{name} seed {seed}: k-means {r['kmeans']['acc']:.4f}, VaDE start "
                             f"{r['vade']['start']['acc']:.4f} -> {r['vade']['final']['acc']:.4f} "
                             f"(nmi {r['vade']['final']['nmi']:.4f}, {r['vade']['seconds']:.0f} s, largest "
                             f"cluster {r['vade']['largest_cluster_max']:.2f})"))
    table = summary(records)
    write_record(args.out, {"benchmark": __doc__.splitlines()[0], "command": command, "settings": settings,
                            "skipped": skipped, "summary": table, "runs": records}, markdown(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
