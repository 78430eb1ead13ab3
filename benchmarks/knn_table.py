"""The paper's Table 3 from trained MNIST runs: kNN test error (k = 3, 5, 10) on the latent means.

For each run directory: encode the MNIST training split (60,000) and test split (10,000) with the
trained encoder, fit a kNN classifier on the training split's latent means and labels, and score
it on the test split. Writes the per-run figures as JSON and a markdown table with mean and
standard deviation beside the paper's:

    python -m benchmarks.knn_table --data-dir MNIST_DIR --out results/table3 \
        runs/spectral-s0 runs/spectral-s1 runs/spectral-s2
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from vade_tf.config import DataConfig
from vade_tf.data import load_dataset
from vade_tf.exporting import load_run
from vade_tf.inference import encode_means
from vade_tf.metrics import knn_error

KS = (3, 5, 10)
PAPER = {"VAE": (18.43, 15.69, 14.19), "DLGMM": (9.14, 8.38, 8.42), "SB-VAE": (7.64, 7.25, 7.31),
         "VaDE (paper)": (2.20, 2.14, 2.22)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True, help="path without extension: writes .json and .md")
    parser.add_argument("run_dirs", nargs="+")
    args = parser.parse_args()
    train = load_dataset(DataConfig(name="mnist", dir=args.data_dir, split="train"))
    test = load_dataset(DataConfig(name="mnist", dir=args.data_dir, split="test"))
    runs = {}
    for run_dir in args.run_dirs:
        model, config, _ = load_run(Path(run_dir))
        z_train, z_test = encode_means(model, train.x), encode_means(model, test.x)
        errors = {k: 100 * knn_error(z_train, train.y, z_test, test.y, k) for k in KS}
        runs[run_dir] = {"seed": config.get("seed"), "error_percent": errors}
        print(run_dir, runs[run_dir]["error_percent"], flush=True)
    errors = np.array([[r["error_percent"][k] for k in KS] for r in runs.values()])
    mean, std = errors.mean(axis=0), errors.std(axis=0, ddof=1) if len(errors) > 1 else np.zeros(len(KS))
    record = {"command": "python " + " ".join(sys.argv), "k": list(KS), "runs": runs,
              "mean_percent": mean.tolist(), "std_percent": std.tolist(), "paper_percent": PAPER}
    Path(args.out + ".json").write_text(json.dumps(record, indent=2) + "\n")
    lines = ["| method | k=3 | k=5 | k=10 |", "| --- | --- | --- | --- |"]
    lines += [f"| {name} | {' | '.join(f'{v:.2f}' for v in values)} |" for name, values in PAPER.items()]
    ours = " | ".join(f"{m:.2f} ± {s:.2f}" for m, s in zip(mean, std))
    lines.append(f"| VaDE (vade-tf, {len(errors)} seeds, mean ± std) | {ours} |")
    Path(args.out + ".md").write_text(
        "MNIST test error (%) of kNN on the latent means (Table 3 of the paper). The models are the\n"
        f"runs {', '.join(args.run_dirs)}, trained without labels on all 70,000 images; the\n"
        "classifier is fitted on the training split's latent means and labels, scored on the test split.\n"
        f"Command: `{record['command']}`\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
