"""How often ``n_clusters="auto"`` finds the number of classes, against the mixtures that choose K.

    python -m benchmarks.bench_n_clusters --data-dir DIR --mnist-dir DIR --fashion-dir DIR \\
        --seeds 0 1 2 --fixed results/bench-datasets.json --out results/bench-n-clusters.json

For every dataset of ``bench_datasets``' suite (``--datasets``; ``mnist`` and ``fashion_mnist`` add
the whole 70,000 images) and every seed it fits ``VaDEClustering(n_clusters="auto",
random_state=seed)`` with the defaults and ``model.max_clusters`` = max(2 K*, 30), K* the number of
classes, and records the K chosen, every K's score and the final ACC / NMI. On the same pretrained
latent (the run's cached autoencoder) it also records what scikit-learn chooses: the K of the lowest
BIC of a full-covariance GaussianMixture over [2, max_clusters], and the number of components a
Dirichlet-process BayesianGaussianMixture of max_clusters components fills. ``--fixed`` (a
``bench_datasets`` record made with the same defaults) gives each run the fixed-K ACC and seconds to
compare with. Labels only score: nothing here is chosen by them.

Each (dataset, seed) is one record in ``--runs-dir``/NAME/seed-S/result.json, read back when it is
finished, so an interrupted benchmark picks up where it stopped.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from benchmarks import suite
from benchmarks.bench_datasets import DATASETS, estimator_arguments
from vade_tf import files, rundir
from vade_tf.metrics import clustering_scores


def _whole(dataset: str):
    def load(where: suite.Suite):
        from vade_tf.config import DataConfig
        from vade_tf.data import load_dataset

        directory = where.mnist_dir if dataset == "mnist" else where.fashion_dir
        if directory is None:
            return None
        data = load_dataset(DataConfig(name=dataset, dir=str(directory), download=False))
        return data.x, data.y
    return load


# The suite, and the paper's two image sets whole.
SUITE = {name: load for name, (load, _) in DATASETS.items()}
SUITE.update(mnist=_whole("mnist"), fashion_mnist=_whole("fashion_mnist"))


def max_clusters_for(k_star: int) -> int:
    """The largest K considered: twice the classes, or 30, whichever is larger."""
    return max(2 * k_star, 30)


def pretrained_latent(run_dir: Path, x: np.ndarray) -> np.ndarray:
    """The latent means of the run's pretrained autoencoder (its cache), before any VaDE step."""
    from vade_tf.inference import encode_means
    from vade_tf.model import VaDE

    model = VaDE.from_config(json.loads((run_dir / rundir.MODEL_SPEC).read_text()))
    model.build((None, model.input_dim))
    model.load_weights(run_dir / rundir.PRETRAIN_DIR / rundir.PRETRAIN_WEIGHTS)
    return encode_means(model, x, False)


def mixture_choices(z: np.ndarray, max_clusters: int, seed: int) -> dict:
    """What scikit-learn's mixtures choose on the latent ``z``: the K of the lowest BIC (full
    covariances, K = 2..max_clusters) and the components a Dirichlet-process mixture fills."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

    z = z.astype(np.float64)
    start = time.perf_counter()
    bic = {}
    for k in range(2, max_clusters + 1):
        mixture = GaussianMixture(k, covariance_type="full", random_state=seed, reg_covar=1e-6).fit(z)
        bic[k] = float(mixture.bic(z))
    bic_seconds = time.perf_counter() - start
    start = time.perf_counter()
    with warnings.catch_warnings():  # a mixture stopping at max_iter still says how many it fills
        warnings.simplefilter("ignore", ConvergenceWarning)
        dirichlet = BayesianGaussianMixture(n_components=max_clusters, covariance_type="full", max_iter=500,
                                            weight_concentration_prior_type="dirichlet_process",
                                            random_state=seed).fit(z)
    return {"bic": {"chosen": min(bic, key=bic.get), "scores": {str(k): v for k, v in bic.items()},
                    "seconds": bic_seconds},
            "dirichlet": {"chosen": int(len(np.unique(dirichlet.predict(z)))),
                          "seconds": time.perf_counter() - start}}


def run_one(name: str, x: np.ndarray, y: np.ndarray, seed: int, runs_dir: Path, settings: dict,
            fixed: dict, command: str) -> dict:
    """The record of one dataset and seed, read back when a finished one matches ``settings``."""
    from vade_tf import VaDEClustering

    path, finished = suite.finished_record(runs_dir, name, seed, settings)
    if finished is not None:
        return finished
    k_star = int(len(np.unique(y)))
    largest = max_clusters_for(k_star)
    run_dir = path.parent / "vade"
    shutil.rmtree(run_dir, ignore_errors=True)  # an interrupted fit starts afresh
    start = time.perf_counter()
    arguments = estimator_arguments({**settings, "model.max_clusters": largest})
    model = VaDEClustering(n_clusters="auto", random_state=seed, **arguments, run_dir=str(run_dir)).fit(x)
    seconds = time.perf_counter() - start
    metrics = model.metrics_
    record = {"dataset": name, "seed": seed, "n_samples": int(x.shape[0]), "n_features": int(x.shape[1]),
              "k_star": k_star, "max_clusters": largest, "settings": settings, "command": command,
              "commit": suite.code_commit(),
              "versions": rundir.library_versions(),
              "vade": {"chosen": metrics["n_clusters_chosen"], "scores": metrics["n_clusters_scores"],
                       "graph_pieces": metrics["n_clusters_graph_pieces"],
                       "final": clustering_scores(y, model.labels_),
                       "seconds": seconds, "seconds_by_phase": metrics["seconds"]},
              **mixture_choices(pretrained_latent(run_dir, x), largest, seed)}
    if (name, seed) in fixed:
        record["fixed_k"] = fixed[name, seed]
    files.write_json(path, record)
    return record


def fixed_runs(path: Optional[Path]) -> dict:
    """(dataset, seed) -> the fixed-K run's final ACC / NMI and seconds, from a bench_datasets record."""
    if path is None:
        return {}
    runs = json.loads(path.read_text())["runs"]
    return {(r["dataset"], r["seed"]): {**r["vade"]["final"], "seconds": r["vade"]["seconds"]} for r in runs}


def summary(records: list[dict]) -> dict:
    """Per dataset: each rule's median K over the seeds, the auto runs' median ACC / NMI beside the
    fixed-K ones, and the seconds; then how often each rule's median is K* and within one of it."""
    table, rules = {}, ("vade", "bic", "dirichlet")
    for name in dict.fromkeys(r["dataset"] for r in records):
        mine = [r for r in records if r["dataset"] == name]
        k_star = mine[0]["k_star"]
        row = {"seeds": [r["seed"] for r in mine], "n_samples": mine[0]["n_samples"], "k_star": k_star}
        for rule in rules:
            row[f"{rule}_k"] = float(np.median([r[rule]["chosen"] for r in mine]))
        row["auto_acc"] = float(np.median([r["vade"]["final"]["acc"] for r in mine]))
        row["auto_nmi"] = float(np.median([r["vade"]["final"]["nmi"] for r in mine]))
        row["auto_seconds"] = float(np.median([r["vade"]["seconds"] for r in mine]))
        fixed = [r["fixed_k"] for r in mine if "fixed_k" in r]
        if len(fixed) == len(mine):
            row["fixed_acc"] = float(np.median([f["acc"] for f in fixed]))
            row["fixed_nmi"] = float(np.median([f["nmi"] for f in fixed]))
            row["fixed_seconds"] = float(np.median([f["seconds"] for f in fixed]))
        table[name] = row
    totals = {rule: {"exact": sum(row[f"{rule}_k"] == row["k_star"] for row in table.values()),
                     "within_one": sum(abs(row[f"{rule}_k"] - row["k_star"]) <= 1 for row in table.values()),
                     "datasets": len(table)} for rule in rules}
    return {"datasets": table, "totals": totals}


def markdown(result: dict) -> str:
    lines = ["| dataset | N, K* | auto K | BIC K | Dirichlet K | auto ACC (NMI) | fixed-K ACC (NMI) | "
             "auto s | fixed s |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in result["datasets"].items():
        fixed = (f"{100 * r['fixed_acc']:.1f} ({r['fixed_nmi']:.3f}) | {r['auto_seconds']:.0f} | "
                 f"{r['fixed_seconds']:.0f}") if "fixed_acc" in r else f"- | {r['auto_seconds']:.0f} | -"
        lines.append(f"| {name} | {r['n_samples']}, {r['k_star']} | {r['vade_k']:g} | {r['bic_k']:g} | "
                     f"{r['dirichlet_k']:g} | {100 * r['auto_acc']:.1f} ({r['auto_nmi']:.3f}) | {fixed} |")
    totals = "; ".join(f"{rule}: {t['exact']} exact, {t['within_one']} within one, of {t['datasets']}"
                       for rule, t in result["totals"].items())
    return "\n".join(lines) + f"\n\nMedian K over the seeds equal to K*: {totals}.\n"


def main(argv=None) -> int:
    from vade_tf.dotted import parse_override

    parser = suite.suite_parser(__doc__.splitlines()[0], SUITE, "runs/bench-n-clusters", default=DATASETS)
    parser.add_argument("--fixed", type=Path, help="a bench_datasets record of the fixed-K runs to compare")
    args = parser.parse_args(argv)
    settings = dict(parse_override(item) for item in args.set)
    command = "python -m benchmarks.bench_n_clusters " + " ".join(sys.argv[1:] if argv is None else argv)
    fixed = fixed_runs(args.fixed)
    sets, skipped = suite.suite_sets(args, SUITE)
    records = suite.over_suite(sets, args.seeds,
                         lambda name, x, y, seed: run_one(name, x, y, seed, args.runs_dir, settings, fixed,
                                                          command),
                         lambda name, seed, r: (
                             f"{name} seed {seed}: K* {r['k_star']}, auto {r['vade']['chosen']}, "
                             f"BIC {r['bic']['chosen']}, Dirichlet {r['dirichlet']['chosen']}; "
                             f"ACC {r['vade']['final']['acc']:.4f} ({r['vade']['seconds']:.0f} s)"))
    result = summary(records)
    record = {"benchmark": __doc__.splitlines()[0], "command": command, "skipped": skipped, "summary": result,
              "runs": records}
    suite.write_record(args.out, record, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
