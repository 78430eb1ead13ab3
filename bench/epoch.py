#!/usr/bin/env python
"""Seconds per MNIST-sized epoch (70,000 x 784) and their ratio to this machine's GEMM bound.

The bound is the network's matrix-multiply FLOPs for the epoch divided by a matrix-multiply rate
measured in the same run, so the ratio is comparable across machines and noisy neighbours:
1.0 means the epoch ran as fast as its dense layers alone could at the measured rate.

    python bench/epoch.py [--batch-size 100] [--epochs 2] [--out results/bench-epoch.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vade_tf import rundir  # noqa: E402
from vade_tf.config import load_config  # noqa: E402
from vade_tf.data.pipeline import training_dataset  # noqa: E402
from vade_tf.model import VaDE  # noqa: E402
from vade_tf.pretrain import encode_means, pretrain_end_to_end  # noqa: E402

N, D = 70_000, 784


def gemm_rate(size: int = 2048, repeats: int = 20) -> float:
    """Sustained float32 matrix-multiply FLOP/s on this machine, best of three timings."""
    a, b = tf.random.normal([size, size]), tf.random.normal([size, size])
    matmul = tf.function(tf.matmul)
    matmul(a, b).numpy()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            c = matmul(a, b)
        c.numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 * repeats / best


def dense_macs(model: VaDE) -> tuple[int, int]:
    """Multiply-accumulates per sample of the encoder and of the decoder (dense layers only)."""
    def macs(layers):
        return sum(int(np.prod(layer.kernel.shape)) for layer in layers)
    encoder = macs(model.encoder.hidden + [model.encoder.mean, model.encoder.log_var])
    decoder = macs(model.decoder.hidden + [model.decoder.out])
    return encoder, decoder


def timed(fn, epochs: int) -> float:
    """Best seconds of ``epochs`` repetitions after one warm-up (compilation excluded)."""
    fn()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per measurement")
    parser.add_argument("--config", default="configs/mnist.json")
    parser.add_argument("--out", default="results/bench-epoch.json")
    args = parser.parse_args()

    config = load_config(args.config)
    x = np.random.default_rng(0).uniform(size=(N, D)).astype(np.float32)
    model = VaDE(input_dim=D, n_clusters=config.model.n_clusters, latent_dim=config.model.latent_dim,
                 hidden_dims=config.model.hidden_dims, likelihood="bernoulli")
    model.build((None, D))
    encoder_macs, decoder_macs = dense_macs(model)
    rate = gemm_rate()
    # Training costs forward + two backward products per layer: 3 x 2 FLOPs per MAC.
    bounds = {"vade_epoch": 6 * (encoder_macs + decoder_macs) * N / rate,
              "pretrain_epoch": 6 * (encoder_macs + decoder_macs) * N / rate,
              "encoder_pass": 2 * encoder_macs * N / rate}

    model.compile(keras.optimizers.Adam(0.002, epsilon=1e-4), jit_compile=config.train.jit_compile,
                  steps_per_execution=config.train.steps_per_execution)
    vade_data = training_dataset(x, args.batch_size, seed=0)
    seconds = {"vade_epoch": timed(lambda: model.fit(vade_data, epochs=1, verbose=0), args.epochs)}
    pretrain_config = dataclasses.replace(config.pretrain, epochs=1, batch_size=args.batch_size)
    seconds["pretrain_epoch"] = timed(
        lambda: pretrain_end_to_end(model, x, pretrain_config, 0, config.pretrain.noise_rate), args.epochs)
    seconds["encoder_pass"] = timed(lambda: encode_means(model, x), args.epochs)

    result = {
        "command": " ".join([sys.executable.split("/")[-1]] + sys.argv),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count()},
        "versions": rundir.library_versions(),
        "n_samples": N, "input_dim": D, "batch_size": args.batch_size,
        "gemm_gflops": rate / 1e9,
        "seconds": seconds,
        "bound_seconds": bounds,
        "ratio_to_gemm_bound": {k: seconds[k] / bounds[k] for k in seconds},
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    for key in seconds:
        print(f"{key}: {seconds[key]:.2f} s, bound {bounds[key]:.2f} s, "
              f"ratio {result['ratio_to_gemm_bound'][key]:.2f}")
    print(f"GEMM rate {rate / 1e9:.0f} GFLOP/s; peak RSS {result['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
