"""The GPU path in one command: ``python -m benchmarks.gpu_check [--tiny] [--out FILE]``.

On the visible device (a GPU when TensorFlow sees one, else the CPU) it checks and times:
- a VaDE epoch at batch 100 and 800 with XLA, in float32, mixed_bfloat16 and mixed_float16: the
  epoch's seconds, and each precision's ELBO after the same steps from the same start against
  float32's (within ``TOLERANCE``);
- the STL-10 path: synthetic 96x96 images through ResNet-50 (random weights), then VaDE steps on
  the 2048 features;
- ``train.strategy = mirrored`` over the visible devices, a whole tiny run through train.py's code;
- an export of that run and a ``serving_default`` call on the device.

It writes ``results/gpu-<device>.json`` and exits 1 when a check fails. ``--tiny`` runs the same
checks at toy sizes (seconds on a CPU), so CI runs it and the tool cannot rot; the full sizes
(MNIST-shaped, 70,000 x 784, the paper's network) are for a GPU and take a few minutes there.
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from benchmarks.bench_epoch import run_record, write_result
from vade_tf.config import load_config
from vade_tf.data import Dataset
from vade_tf.data.pipeline import epoch_batches
from vade_tf.evaluation import elbo_estimate
from vade_tf.fit import compile_for_training
from vade_tf.initialise import build_model
from vade_tf.recipe import resolve_auto

PRECISIONS = ("none", "mixed_bfloat16", "mixed_float16")
TOLERANCE = 0.02  # |ELBO - float32's| / |float32's| after the same steps from the same start
SIZES = {  # samples, features, hidden widths, latent, clusters, batches, STL-10 images
    "full": {"n": 70_000, "d": 784, "hidden": [500, 500, 2000], "latent": 10, "k": 10, "batches": (100, 800),
             "images": 256},
    "tiny": {"n": 512, "d": 64, "hidden": [32, 16], "latent": 3, "k": 4, "batches": (32, 128), "images": 4},
}


def device_name() -> str:
    """The first GPU's name as TensorFlow reports it, or "cpu"."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "cpu"
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "gpu")


def vade_epochs(size: dict, x: np.ndarray) -> dict:
    """Per batch size and precision: one XLA-compiled epoch's seconds (after a warm-up epoch) and the
    ELBO on the first samples after those two epochs, all from the same initial weights."""
    results = {}
    for batch_size in size["batches"]:
        steps = len(x) // batch_size
        for precision in PRECISIONS:
            config = load_config(overrides={
                "model.networks.hidden_dims": size["hidden"], "model.latent_dim": size["latent"],
                "model.n_clusters": size["k"], "model.likelihood": "bernoulli",  # uniform(0, 1) pixels
                "train.batch_size": batch_size, "train.mixed_precision": precision,
                "train.jit_compile": True})
            config = resolve_auto(config, Dataset(x, None, "synthetic"))
            model = build_model(config, x.shape[1], seed=0)
            compile_for_training(model, config, steps)
            timings = []
            for epoch in range(2):
                start = time.perf_counter()
                model.fit(epoch_batches(x, batch_size, 0, epoch, epoch + 1), epochs=1, steps_per_epoch=steps,
                          verbose=0)
                timings.append(time.perf_counter() - start)
            model.noise.state.assign([0, 0])  # the same z draws for every precision's estimate
            elbo = elbo_estimate(model, x[:2000], 20_000)["elbo"]
            results[f"batch_{batch_size}/{precision}"] = {"epoch_seconds": timings[-1], "elbo": elbo,
                                                          "steps": 2 * steps}
        reference = results[f"batch_{batch_size}/none"]["elbo"]
        for precision in PRECISIONS[1:]:
            record = results[f"batch_{batch_size}/{precision}"]
            record["elbo_relative_to_float32"] = abs(record["elbo"] - reference) / abs(reference)
            record["within_tolerance"] = bool(record["elbo_relative_to_float32"] <= TOLERANCE)
    return results


def stl10_path(size: dict) -> dict:
    """Synthetic 96x96 RGB images -> ResNet-50 features (random weights) -> a few VaDE steps."""
    from vade_tf.data.stl10 import extract_features

    images = np.random.default_rng(0).uniform(0, 255, size=(size["images"], 96, 96, 3)).astype(np.float32)
    start = time.perf_counter()
    features = extract_features(images, weights=None, verbose=False)
    extracted = time.perf_counter() - start
    config = load_config(overrides={"model.networks.hidden_dims": size["hidden"],
                                    "model.latent_dim": size["latent"],
                                    "model.n_clusters": 2, "model.likelihood": "gaussian",
                                    "train.batch_size": 2, "train.jit_compile": True})
    config = resolve_auto(config, Dataset(features, None, "features"))
    model = build_model(config, features.shape[1], seed=0)
    steps = len(features) // 2
    compile_for_training(model, config, steps)
    history = model.fit(epoch_batches(features / features.std(), 2, 0, 0, 1), epochs=1, steps_per_epoch=steps,
                        verbose=0)
    return {"images": len(images), "feature_shape": list(features.shape), "extract_seconds": extracted,
            "images_per_second": len(images) / extracted, "elbo_after_steps": history.history["elbo"][-1],
            "finite": bool(np.isfinite(history.history["elbo"][-1]))}


def mirrored_run_and_export(size: dict, x: np.ndarray, folder: Path) -> dict:
    """A whole run under ``train.strategy = mirrored`` (train.py's code), then its export and one
    ``serving_default`` call."""
    from vade_tf.exporting import export
    from vade_tf.runs import train_and_evaluate

    config = load_config(overrides={
        "model.networks.hidden_dims": size["hidden"], "model.latent_dim": size["latent"],
        "model.n_clusters": size["k"], "pretrain.method": "plain", "pretrain.epochs": 1,
        "pretrain.gmm_n_init": 1, "train.epochs": 1,
        "train.strategy": "mirrored", "train.batch_size": size["batches"][0], "data.name": "custom",
        "logging.tsne_samples": 0, "logging.image_every": 0, "logging.embedding_every": 0})
    start = time.perf_counter()
    metrics = train_and_evaluate(config, folder / "run", verbose=0, data=Dataset(x, None, "synthetic"))
    seconds = time.perf_counter() - start
    written = export(folder / "run", folder / "models")
    serve = tf.saved_model.load(written["path"]).signatures["serving_default"]
    answer = serve(x=tf.constant(x[:8]))
    probabilities = answer["cluster_probs"].numpy()
    return {"replicas": len(tf.config.list_logical_devices("GPU")) or 1, "run_seconds": seconds,
            "elbo": metrics["elbo"], "served_on": answer["cluster_probs"].device,
            "served_shape": list(probabilities.shape),
            "served_rows_sum_to_one": bool(np.allclose(probabilities.sum(axis=1), 1, atol=1e-5))}


def failures(record: dict) -> list[str]:
    """The checks that did not hold, named."""
    failed = [f"{key}: ELBO {value['elbo_relative_to_float32']:.3%} from float32's"
              for key, value in record["vade_epochs"].items() if value.get("within_tolerance") is False]
    failed += [f"{key}: ELBO is not finite" for key, value in record["vade_epochs"].items()
               if not np.isfinite(value["elbo"])]
    if not record["stl10"]["finite"]:
        failed.append("stl10: the VaDE steps on ResNet-50 features gave a non-finite ELBO")
    if not record["mirrored"]["served_rows_sum_to_one"]:
        failed.append("export: serving_default's cluster probabilities do not sum to one")
    return failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="toy sizes: seconds on a CPU (CI)")
    parser.add_argument("--out", help="where to write the record (default: results/gpu-<device>.json)")
    args = parser.parse_args(argv)
    size = SIZES["tiny" if args.tiny else "full"]
    device = device_name()
    x = np.random.default_rng(0).uniform(size=(size["n"], size["d"])).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="vade-gpu-check-") as folder:
        record = {**run_record(), "device": device, "mode": "tiny" if args.tiny else "full",
                  "tolerance": TOLERANCE, "vade_epochs": vade_epochs(size, x), "stl10": stl10_path(size),
                  "mirrored": mirrored_run_and_export(size, x, Path(folder))}
    record["failures"] = failures(record)
    out = args.out or f"results/gpu-{re.sub(r'[^a-z0-9]+', '-', device.lower()).strip('-')}.json"
    write_result(out, record)
    for key, value in record["vade_epochs"].items():
        print(f"{key}: epoch {value['epoch_seconds']:.2f} s, ELBO {value['elbo']:.3f}")
    mirrored = record["mirrored"]
    print(f"stl10: {record['stl10']['images_per_second']:.1f} images/s through ResNet-50; "
          f"mirrored run {mirrored['run_seconds']:.1f} s, served on {mirrored['served_on']}")
    print("\n".join(f"FAILED {failure}" for failure in record["failures"]) or f"all checks passed ({device})")
    print(f"wrote {out}")
    return 1 if record["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
