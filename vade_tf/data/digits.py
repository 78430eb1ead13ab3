"""The embedded default: scikit-learn's 8x8 handwritten digits (1797 x 64, 10 classes), no download."""
from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from vade_tf.data.dataset import Dataset


def load(config) -> Dataset:
    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)  # pixel counts 0..16 -> [0, 1] for a Bernoulli p(x|z)
    y = bunch.target.astype(np.int64)
    if config.split != "all":
        # A fixed, seed-independent split: the first 1500 train, the rest test.
        cut = slice(0, 1500) if config.split == "train" else slice(1500, None)
        x, y = x[cut], y[cut]
    return Dataset(x=x, y=y, name="digits", image_shape=(8, 8))
