"""Inference throughput of the exported SavedModel (serving_default) and its ratio to the GEMM bound.

Exports an MNIST-architecture model (784-500-500-2000-10, K = 10; throughput does not depend on the
weights, so they are the initial ones) with the same code as export.py, loads it back with
tf.saved_model.load as a serving process would, and times the serving_default signature at several
batch sizes. The bound is the encoder's FLOPs at the peak square-GEMM rate measured in the same
run; the ratio is measured time / bound (1.0 = as fast as the matrix multiplies alone).

    python -m benchmarks.bench_serving [--batches 1 64 1024] [--out results/bench-serving.json]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from benchmarks.bench_epoch import best_seconds, macs, peak_gemm_rate, run_record, write_result
from vade_tf.config import load_config
from vade_tf.exporting import write_version
from vade_tf.initialise import build_model
from vade_tf.serving import VaDEServing

D, K, ROWS = 784, 10, 16_384


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--out", default="results/bench-serving.json")
    args = parser.parse_args()

    model = build_model(load_config(overrides={"model.n_clusters": K, "model.latent_dim": 10,
                                                "model.networks.hidden_dims": [500, 500, 2000],
                                                "model.likelihood": "bernoulli", "model.covariance": "diag"}),
                        D, seed=0)
    # serving_default needs the hidden layers and the mean head, not the log-variance head.
    flops_per_sample = 2 * macs(model.encoder.features.layers + [model.encoder.mean])
    peak = peak_gemm_rate()
    x = np.random.default_rng(0).uniform(size=(ROWS, D)).astype(np.float32)
    with tempfile.TemporaryDirectory() as base:
        written = write_version(VaDEServing(model), {"data": {"name": "mnist"}}, {}, Path(base))
        serve = tf.saved_model.load(written["path"]).signatures["serving_default"]
        throughput, ratio = {}, {}
        for batch in args.batches:
            rows = x[: max(batch, min(ROWS, 64 * batch))]
            requests = [tf.constant(rows[i:i + batch]) for i in range(0, len(rows) - batch + 1, batch)]
            seconds = best_seconds(lambda: [serve(x=r) for r in requests][-1]["cluster"].numpy())
            samples = batch * len(requests)
            throughput[str(batch)] = samples / seconds
            ratio[str(batch)] = seconds / (samples * flops_per_sample / peak)
    result = {
        **run_record(),
        "signature": "serving_default (x -> cluster, cluster_probs, z_mean)",
        "peak_gemm_gflops": peak / 1e9, "flops_per_sample": flops_per_sample,
        "bound": "the encoder's FLOPs (hidden layers and mean head) at the peak square-GEMM rate",
        "samples_per_second": throughput, "ratio_to_gemm_bound": ratio,
    }
    write_result(args.out, result)
    for batch in throughput:
        print(f"batch {batch}: {throughput[batch]:,.0f} samples/s, "
              f"ratio to the GEMM bound {ratio[batch]:.2f}")


if __name__ == "__main__":
    main()
