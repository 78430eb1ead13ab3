"""Seconds per MNIST-sized epoch (70,000 x 784) against two GEMM bounds and a PyTorch reference.

Both bounds are measured in the same run, and a ratio of 1.0 means the epoch ran as fast as its matrix
products alone:
- the step's own GEMMs: each dense layer's forward product and its backward ones (the weight gradient,
  and the input gradient except the first layer's, which nothing needs), at the batch's shapes, timed
  alone, times the steps;
- the peak square GEMM: the epoch's FLOPs at the rate of a large square float32 product.
Every product is timed through XLA and through TensorFlow's own kernels (oneDNN on x86), and the faster
is the bound: the best this machine's libraries do, not the best XLA does.

Each VaDE epoch (the config's step: its prior, optimizers and XLA setting) is raced right after against
``reference_torch`` in a process of its own where PyTorch is installed (speed-up: its seconds over
ours). ``--run-dir RUN`` adds where a finished vade-train run's wall time went, phase by phase. Epoch
seconds are the fastest of ``--tries`` epochs after a first one that compiles.

    python -m benchmarks.bench_epoch [--batch-sizes 100 800] [--tries 3] [--run-dir RUN]
                          [--config configs/mnist.json] [--out results/bench-epoch.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from vade_tf import rundir
from vade_tf.config import load_config
from vade_tf.data import Dataset
from vade_tf.data.pipeline import epoch_batches
from vade_tf.fit import compile_for_training
from vade_tf.inference import encode_means
from vade_tf.initialise import build_model
from vade_tf.model import VaDE
from vade_tf.pretrain import pretrain_end_to_end
from vade_tf.recipe import resolve_auto

D = 784


def best_seconds(fn, tries: int = 3) -> float:
    """Best wall time of ``tries`` calls after one warm-up: the least disturbed by neighbours."""
    fn()
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_gemm_rate(size: int = 2048, repeats: int = 20) -> float:
    """Float32 FLOP/s of a large square matrix product, the faster of XLA's and TensorFlow's kernels."""
    a, b = tf.random.normal([size, size]), tf.random.normal([size, size])

    def rate(jit_compile: bool) -> float:
        products = tf.function(lambda: tf.add_n([tf.reduce_sum(tf.matmul(a + float(i), b))
                                                 for i in range(repeats)]), jit_compile=jit_compile)
        return 2 * size ** 3 * repeats / best_seconds(lambda: products().numpy())
    return max(rate(True), rate(False))


def vade_layers(model: VaDE) -> list[keras.layers.Layer]:
    """The dense layers a VaDE step runs, input side first."""
    return model.encoder.features.layers + [model.encoder.mean, model.encoder.log_var] + \
        model.decoder.body.layers


def autoencoder_layers(model: VaDE) -> list[keras.layers.Layer]:
    """The dense layers pretraining runs: the encoder's mean path and the decoder."""
    return model.encoder.features.layers + [model.encoder.mean] + model.decoder.body.layers


def macs(layers: Sequence[keras.layers.Layer]) -> int:
    """Multiply-accumulates per sample of a stack of dense layers."""
    return sum(int(np.prod(layer.kernel.shape)) for layer in layers)


def training_flops(layers: Sequence[keras.layers.Layer], samples: int) -> int:
    """FLOPs of training ``layers`` on ``samples`` rows: 2 per multiply-accumulate for the forward
    product and for each backward one, less the first layer's input gradient."""
    return 2 * samples * (3 * macs(layers) - macs(layers[:1]))


def training_gemm_seconds(layers: Sequence[keras.layers.Layer], batch_size: int, repeats: int = 5) -> float:
    """Seconds per training step spent in its matrix products alone, at the layers' own shapes: for
    X[B, m] W[m, n], X W, X^T dY and (past the first layer) dY W^T. Each product waits for the one
    before, as the layers' data flow orders them in a step (a product of independent GEMMs running
    side by side on the cores would be a bound no step can reach). The faster of XLA and TensorFlow."""
    shapes = [tuple(layer.kernel.shape) for layer in layers]
    xs = [tf.random.normal([batch_size, m]) for m, _ in shapes]
    ws = [tf.random.normal([m, n]) for m, n in shapes]
    dys = [tf.random.normal([batch_size, n]) for _, n in shapes]

    def products():
        previous = tf.zeros([1, 1])
        for _ in range(repeats):
            for layer, (x, w, dy) in enumerate(zip(xs, ws, dys)):
                # One element of the last product, scaled to nothing: the next one has to wait for it.
                x = x + 1e-30 * previous[0, 0]
                previous = x @ w
                previous = tf.matmul(x + 1e-30 * previous[0, 0], dy, transpose_a=True)
                if layer:
                    previous = tf.matmul(dy + 1e-30 * previous[0, 0], w, transpose_b=True)
        return previous[0, 0]

    compiled = [tf.function(products, jit_compile=jit) for jit in (True, False)]
    return min(best_seconds(lambda: function().numpy()) for function in compiled) / repeats


class EpochSeconds(keras.callbacks.Callback):
    """Each epoch's wall time."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def vade_epoch_seconds(model: VaDE, config, x: np.ndarray, batch_size: int, tries: int) -> float:
    steps = len(x) // batch_size
    compile_for_training(model, config, steps)
    timer = EpochSeconds()
    model.fit(epoch_batches(x, batch_size, 0, 0, 1 + tries), epochs=1 + tries, steps_per_epoch=steps,
              callbacks=[timer], verbose=0, shuffle=False)  # the batches come shuffled
    return min(timer.seconds[1:])


def pretrain_epoch_seconds(model: VaDE, config, x: np.ndarray, noise_rate: float, tries: int) -> float:
    timer = EpochSeconds()
    pretrain_end_to_end(model, x, dataclasses.replace(config.pretrain, epochs=1 + tries), 0, noise_rate,
                        callbacks=[timer])
    return min(timer.seconds[1:])


def torch_epoch_seconds(batch_size: int, tries: int, config_path: str, samples: int) -> Optional[dict]:
    """``reference_torch``'s record for one batch size, run in a process of its own; None without torch."""
    if importlib.util.find_spec("torch") is None:
        return None
    command = [sys.executable, "-m", "benchmarks.reference_torch", "--batch-size", str(batch_size),
               "--epochs", str(tries), "--config", config_path, "--samples", str(samples)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.splitlines()[-1])


def run_breakdown(run_dir: str) -> dict:
    """Where a finished run's wall time went: each phase's seconds and share (metrics.json)."""
    metrics = json.loads((Path(run_dir) / rundir.METRICS_FILE).read_text())
    wall, phases = metrics["wall_time_s"], metrics["seconds"]
    phases = {**phases, "other": wall - sum(phases.values())}
    return {"command": metrics.get("command"), "wall_time_s": wall, "seconds": phases,
            "share": {name: seconds / wall for name, seconds in phases.items()}}


def run_record() -> dict:
    """What every benchmark record starts with: the command, the machine and the library versions."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)  # set when run as python -m
    program = f"python -m {spec.name}" if spec else f"python {Path(sys.argv[0]).name}"
    return {"command": " ".join([program] + sys.argv[1:]),
            "machine": {"platform": platform.platform(), "processor": platform.processor(),
                        "cpu_count": os.cpu_count()},
            "versions": rundir.library_versions(),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def write_result(path: str, result: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 800], help="VaDE epochs' batches")
    parser.add_argument("--tries", type=int, default=3, help="timed epochs after the first (fastest kept)")
    parser.add_argument("--config", default="configs/mnist.json")
    parser.add_argument("--run-dir", help="a finished vade-train run whose phases to break down")
    parser.add_argument("--samples", type=int, default=70_000, help="rows of the synthetic MNIST-shaped data")
    parser.add_argument("--peak-size", type=int, default=2048, help="side of the square GEMM for the peak")
    parser.add_argument("--out", default="results/bench-epoch.json")
    args = parser.parse_args(argv)

    config = load_config(args.config)
    n = args.samples
    x = np.random.default_rng(0).uniform(size=(n, D)).astype(np.float32)
    config = resolve_auto(config, Dataset(x, None, "synthetic"))
    model = build_model(dataclasses.replace(config, model=dataclasses.replace(config.model,
                                                                              likelihood="bernoulli")),
                        D, seed=0)
    peak = peak_gemm_rate(args.peak_size)
    seconds, own_bound, flops, torch_records = {}, {}, {}, {}
    for batch_size in args.batch_sizes:
        key = f"vade_epoch_batch_{batch_size}"
        seconds[key] = vade_epoch_seconds(model, config, x, batch_size, args.tries)
        own_bound[key] = training_gemm_seconds(vade_layers(model), batch_size) * (n // batch_size)
        flops[key] = training_flops(vade_layers(model), n // batch_size * batch_size)
        torch_records[key] = torch_epoch_seconds(batch_size, args.tries, args.config, n)
    pretrain_batch = min(config.pretrain.batch_size, n)
    pretrain_steps = -(-n // pretrain_batch)
    pretrain_bound = training_gemm_seconds(autoencoder_layers(model), pretrain_batch) * pretrain_steps
    noise_rates = {"pretrain_epoch": 0.0, "pretrain_epoch_masking_noise": config.pretrain.noise_rate}
    for key, noise_rate in noise_rates.items():
        seconds[key] = pretrain_epoch_seconds(model, config, x, noise_rate, args.tries)
        own_bound[key] = pretrain_bound
        flops[key] = training_flops(autoencoder_layers(model), n)
    seconds["encoder_pass"] = best_seconds(lambda: encode_means(model, x), args.tries)
    flops["encoder_pass"] = 2 * macs(model.encoder.features.layers + [model.encoder.mean]) * n

    peak_bound = {key: flops[key] / peak for key in seconds}
    result = {
        **run_record(),
        "config": args.config, "n_samples": n, "input_dim": D, "covariance": config.model.covariance,
        "pretrain_batch_size": pretrain_batch, "peak_gemm_gflops": peak / 1e9,
        "bounds": "own_gemm: the step's own matrix products timed alone, times the steps; peak_gemm: "
                  "the FLOPs at the peak square-GEMM rate; each the faster of XLA and TensorFlow's kernels",
        "seconds": seconds, "flops": flops,
        "bound_seconds": {"own_gemm": own_bound, "peak_gemm": peak_bound},
        "ratio": {"own_gemm": {k: seconds[k] / own_bound[k] for k in own_bound},
                  "peak_gemm": {k: seconds[k] / peak_bound[k] for k in seconds}},
    }
    if any(record is not None for record in torch_records.values()):
        result["reference_torch"] = torch_records
        result["speedup_over_torch"] = {k: r["seconds"] / seconds[k] for k, r in torch_records.items()}
    if args.run_dir:
        result["run_breakdown"] = run_breakdown(args.run_dir)
    write_result(args.out, result)
    for key in seconds:
        own = f", {result['ratio']['own_gemm'][key]:.2f}x its own GEMMs" if key in own_bound else ""
        versus = ""
        if key in result.get("speedup_over_torch", {}):
            versus = (f"; PyTorch {torch_records[key]['seconds']:.2f} s, vade-tf "
                      f"{result['speedup_over_torch'][key]:.2f}x as fast")
        print(f"{key}: {seconds[key]:.2f} s, {result['ratio']['peak_gemm'][key]:.2f}x the peak-GEMM bound"
              f"{own}{versus}")
    print(f"peak GEMM {peak / 1e9:.0f} GFLOP/s; peak RSS {result['peak_rss_mib']:.0f} MiB")
    for phase, phase_seconds in result.get("run_breakdown", {}).get("seconds", {}).items():
        print(f"run: {phase} {phase_seconds:.1f} s")
    return result


if __name__ == "__main__":
    main()
