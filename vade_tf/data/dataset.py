"""The in-memory dataset record and the loader registry keyed by ``data.name``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


class DataError(ValueError):
    """A data problem the user can fix; its message is one line naming the file and the fix."""


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray                 # [N, D] float32 features
    y: Optional[np.ndarray]       # [N] int64 labels, used only for metrics; None when unlabelled
    name: str

    @property
    def input_dim(self) -> int:
        return int(self.x.shape[1])

    def check_likelihood(self, likelihood: str) -> None:
        """Fail early when features cannot come from the chosen p(x|z)."""
        if not np.all(np.isfinite(self.x)):
            raise DataError(f"{self.name}: features contain NaN or Inf; clean or impute them first")
        if likelihood == "bernoulli" and (self.x.min() < 0.0 or self.x.max() > 1.0):
            raise DataError(f"{self.name}: features lie in [{self.x.min():g}, {self.x.max():g}] but the "
                            "bernoulli likelihood needs [0, 1]; rescale or set model.likelihood=gaussian")


def check_dataset(data: Dataset, config) -> None:
    """Fail before any work when the data cannot serve this (full) Config."""
    from vade_tf.config import ConfigError

    data.check_likelihood(config.model.likelihood)
    if config.train.batch_size > len(data.x):
        raise ConfigError(f"train.batch_size: got {config.train.batch_size}, larger than the "
                          f"{len(data.x)} samples of {data.name}; lower it")


def load_dataset(config) -> Dataset:
    """Load the dataset that ``config`` (a DataConfig) names, restricted to its split."""
    from vade_tf.data import digits, idx

    loaders = {"digits": digits.load, "mnist": idx.load_mnist}
    return loaders[config.name](config)
