"""The small-data check's inputs (results/small-data-custom.json), saved as a user with a small matrix would:

    python -m benchmarks.make_subsets --mnist-dir DIR --fashion-dir DIR --out DIR

writes mnist-1500-s{0,1,2}.npz and fashion_mnist-1500-s{0,1,2}.npz (1,500 random images of train+test,
X in [0, 1], y) and digits-standardised.npz (scikit-learn's digits, each feature standardised).
"""
import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from vade_tf.config import DataConfig
from vade_tf.data import load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-dir", required=True)
    parser.add_argument("--fashion-dir", required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, directory in (("mnist", args.mnist_dir), ("fashion_mnist", args.fashion_dir)):
        data = load_dataset(DataConfig(name=name, dir=directory, download=False))
        for seed in (0, 1, 2):
            index = np.sort(np.random.default_rng(seed).choice(len(data.x), 1500, replace=False))
            np.savez(args.out / f"{name}-1500-s{seed}.npz", X=data.x[index], y=data.y[index])
    digits = load_digits()
    standardised = StandardScaler().fit_transform(digits.data).astype(np.float32)
    np.savez(args.out / "digits-standardised.npz", X=standardised, y=digits.target)


if __name__ == "__main__":
    main()
