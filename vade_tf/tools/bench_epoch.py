"""Seconds per MNIST-sized epoch (70,000 x 784) and their ratio to this machine's GEMM bound.

The bound for a training epoch is the time of the step's own matrix products (every dense layer's
forward and two backward GEMMs, at the batch's shapes) measured alone in the same run, times the
steps: 1.0 means the epoch ran as fast as its matrix multiplies alone. The ratio is comparable
across machines and noisy neighbours; absolute seconds are not.

The VaDE epoch is also timed at the larger batches GPU users run (800 and 4096 by default),
each against its own bound.

    python -m vade_tf.tools.bench_epoch [--batch-size 100] [--large-batches 800 4096] [--epochs 2]
                          [--out results/bench-epoch.json]
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

import numpy as np
import tensorflow as tf

from vade_tf import rundir
from vade_tf.config import load_config
from vade_tf.data.pipeline import epoch_batches
from vade_tf.fit import compile_for_training
from vade_tf.inference import encode_means
from vade_tf.model import VaDE
from vade_tf.pretrain import pretrain_end_to_end

N, D = 70_000, 784


def peak_gemm_rate(size: int = 2048, repeats: int = 20) -> float:
    """Float32 FLOP/s of a large square matrix multiply: the machine's best case."""
    a, b = tf.random.normal([size, size]), tf.random.normal([size, size])
    matmul = tf.function(tf.matmul, jit_compile=True)
    return 2 * size ** 3 * repeats / best_seconds(lambda: [matmul(a, b) for _ in range(repeats)][-1].numpy())


def training_gemm_seconds(model: VaDE, batch_size: int, repeats: int = 50) -> float:
    """Seconds per training step spent in the matrix products alone, at the network's own shapes.

    For every dense layer X[B, m] W[m, n]: the forward product, and the two backward ones
    (dY W^T for the input gradient, X^T dY for the weight gradient). This is the GEMM bound for
    the same work: what the step would cost if nothing but its matrix multiplies ran.
    """
    layers = model.encoder.hidden + [model.encoder.mean, model.encoder.log_var] + \
        model.decoder.hidden + [model.decoder.out]
    shapes = [tuple(layer.kernel.shape) for layer in layers]
    xs = [tf.random.normal([batch_size, m]) for m, _ in shapes]
    ws = [tf.random.normal([m, n]) for m, n in shapes]
    dys = [tf.random.normal([batch_size, n]) for _, n in shapes]

    @tf.function(jit_compile=True)
    def products():
        total = 0.0
        for x, w, dy in zip(xs, ws, dys):
            total += tf.reduce_sum(x @ w) + tf.reduce_sum(tf.matmul(dy, w, transpose_b=True)) \
                + tf.reduce_sum(tf.matmul(x, dy, transpose_a=True))
        return total

    return best_seconds(lambda: [products() for _ in range(repeats)][-1].numpy()) / repeats


def best_seconds(fn, tries: int = 3) -> float:
    """Best wall time of ``tries`` calls after one warm-up: the least disturbed by neighbours."""
    fn()
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run_record() -> dict:
    """What every benchmark record starts with: the command, the machine and the library versions."""
    return {"command": " ".join([sys.executable.split("/")[-1]] + sys.argv),
            "machine": {"platform": platform.platform(), "processor": platform.processor(),
                        "cpu_count": os.cpu_count()},
            "versions": rundir.library_versions(),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def write_result(path: str, result: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")


def dense_macs(model: VaDE) -> tuple[int, int]:
    """Multiply-accumulates per sample of the encoder and of the decoder (dense layers only)."""
    def macs(layers):
        return sum(int(np.prod(layer.kernel.shape)) for layer in layers)
    encoder = macs(model.encoder.hidden + [model.encoder.mean, model.encoder.log_var])
    decoder = macs(model.decoder.hidden + [model.decoder.out])
    return encoder, decoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per measurement (best kept)")
    parser.add_argument("--large-batches", type=int, nargs="*", default=[800, 4096],
                        help="further batch sizes for the VaDE epoch")
    parser.add_argument("--config", default="configs/mnist.json")
    parser.add_argument("--out", default="results/bench-epoch.json")
    args = parser.parse_args()

    config = load_config(args.config)
    x = np.random.default_rng(0).uniform(size=(N, D)).astype(np.float32)
    model = VaDE(input_dim=D, n_clusters=config.model.n_clusters, latent_dim=config.model.latent_dim,
                 hidden_dims=config.model.hidden_dims, likelihood="bernoulli")
    model.build((None, D))
    encoder_macs, decoder_macs = dense_macs(model)
    steps = N // args.batch_size
    peak = peak_gemm_rate()
    step_gemm = training_gemm_seconds(model, args.batch_size)
    # Training costs a forward and two backward products per layer: 3 x 2 FLOPs per MAC.
    training_flops = 6 * (encoder_macs + decoder_macs) * N
    bounds = {"vade_epoch": step_gemm * steps, "pretrain_epoch": step_gemm * steps,
              "pretrain_epoch_masking_noise": step_gemm * steps,
              "encoder_pass": 2 * encoder_macs * N / peak}

    # The optimizers (the mixture's own, when configured), XLA, steps per execution and the
    # per-(seed, epoch) batch order that train.py uses.
    compile_for_training(model, config, steps)
    seconds = {"vade_epoch": best_seconds(lambda: model.fit(
        epoch_batches(x, args.batch_size, 0, 0, 1), epochs=1, steps_per_epoch=steps, verbose=0), args.epochs)}
    pretrain_config = dataclasses.replace(config.pretrain, epochs=1, batch_size=args.batch_size)
    seconds["pretrain_epoch"] = best_seconds(
        lambda: pretrain_end_to_end(model, x, pretrain_config, 0, 0.0), args.epochs)
    seconds["pretrain_epoch_masking_noise"] = best_seconds(
        lambda: pretrain_end_to_end(model, x, pretrain_config, 0, config.pretrain.noise_rate), args.epochs)
    seconds["encoder_pass"] = best_seconds(lambda: encode_means(model, x), args.epochs)
    for batch_size in args.large_batches:
        key, steps_at_batch = f"vade_epoch_batch_{batch_size}", N // batch_size
        bounds[key] = training_gemm_seconds(model, batch_size) * steps_at_batch
        compile_for_training(model, config, steps_at_batch)
        seconds[key] = best_seconds(lambda: model.fit(epoch_batches(x, batch_size, 0, 0, 1), epochs=1,
                                                      steps_per_epoch=steps_at_batch, verbose=0), args.epochs)

    result = {
        **run_record(),
        "n_samples": N, "input_dim": D, "batch_size": args.batch_size,
        "peak_gemm_gflops": peak / 1e9,
        "training_gemm_gflops_at_batch": training_flops / bounds["vade_epoch"] / 1e9,
        "bound": "vade/pretrain epochs: the step's own matrix products timed alone, times the steps; "
                 "encoder pass: its FLOPs at the peak square-GEMM rate",
        "seconds": seconds,
        "bound_seconds": bounds,
        "ratio_to_gemm_bound": {k: seconds[k] / bounds[k] for k in seconds},
    }
    write_result(args.out, result)
    for key in seconds:
        print(f"{key}: {seconds[key]:.2f} s, bound {bounds[key]:.2f} s, "
              f"ratio {result['ratio_to_gemm_bound'][key]:.2f}")
    print(f"peak GEMM {peak / 1e9:.0f} GFLOP/s, the step's own GEMMs "
          f"{result['training_gemm_gflops_at_batch']:.0f} GFLOP/s; peak RSS {result['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
