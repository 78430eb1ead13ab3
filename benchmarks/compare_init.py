"""Compare the ways of initialising the mixture on the same pretrained autoencoders.

For each run directory's pretrained weights (RUN/pretrain/init.weights.h5, or
RUN/restart_<r>/pretrain/...), encode the data, partition the latent means with a diagonal GMM, a
full-covariance GMM and spectral clustering, and score the partition and the diagonal prior made
from it (the prior VaDE starts from) against the labels. Used for results/init-mnist-spectral.json:

    python -m benchmarks.compare_init --config configs/mnist.json --data-dir MNIST_DIR \
        --out results/init-mnist-spectral.json runs/mnist-s0 runs/mnist-s1 ...
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from vade_tf import rundir
from vade_tf.config import load_config
from vade_tf.data import load_dataset
from vade_tf.inference import assign_clusters, encode_means
from vade_tf.initialise import build_model
from vade_tf.metrics import clustering_scores
from vade_tf.partition import fit_mixture, partition_moments, spectral_partition
from vade_tf.recipe import resolve_auto


def _partitions(z, config):
    """(name, callable returning (weights, means, variances, assignments)) for each method."""
    k, n_init, seed = config.model.n_clusters, config.pretrain.gmm_n_init, config.seed

    def spectral():
        assignments = spectral_partition(z, k, config.pretrain.spectral_neighbors, n_init, seed)
        return (*partition_moments(z, assignments, k), assignments)

    return [("gmm_diag", lambda: fit_mixture(z, k, n_init, seed, "diag")),
            ("gmm_full", lambda: fit_mixture(z, k, n_init, seed, "full")),
            ("spectral", spectral)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("pretrain_dirs", nargs="+", help="folders holding pretrain/init.weights.h5")
    args = parser.parse_args()
    # The diagonal prior this comparison measures (and the caches it reads were made with).
    config = load_config(args.config, {"data.dir": args.data_dir, "model.covariance": "diag"})
    data = load_dataset(config.data)
    config = resolve_auto(config, data)
    report = {"command": "python " + " ".join(sys.argv), "config": args.config, "autoencoders": {}}
    for directory in args.pretrain_dirs:
        model = build_model(config, data.input_dim, config.seed)
        model.load_weights(Path(directory) / rundir.PRETRAIN_DIR / rundir.PRETRAIN_WEIGHTS)
        z = encode_means(model, data.x)
        rows = {}
        for name, partition in _partitions(z, config):
            start = time.perf_counter()
            weights, means, variances, assignments = partition()
            seconds = time.perf_counter() - start
            model.prior.set_mixture(weights, means, variances)
            rows[name] = {"partition": clustering_scores(data.y, assignments),
                          "diagonal_prior": clustering_scores(data.y, assign_clusters(model, data.x)),
                          "seconds": seconds}
            print(f"{directory} {name}: partition acc {rows[name]['partition']['acc']:.4f}, diagonal prior "
                  f"acc {rows[name]['diagonal_prior']['acc']:.4f} ({seconds:.1f} s)", flush=True)
        report["autoencoders"][directory] = rows
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
