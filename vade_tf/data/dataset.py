"""The dataset record every loader returns, the checks loaders share, and ``load_dataset``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from vade_tf.data.sparse import SparseRows
from vade_tf.errors import DataError
from vade_tf.registry import DATASETS, resolve


def in_memory(x) -> bool:
    """Features held in memory (an array, or ``SparseRows``) rather than streamed from disk."""
    return isinstance(x, (np.ndarray, SparseRows))


@dataclass(frozen=True)
class Dataset:
    """What a dataset's loader (``registry.DatasetEntry.load``) returns.

    Parameters
    ----------
    x : array-like [N, D]
        float32 features: an array, a sparse matrix densified per batch (``sparse.SparseRows``), or
        features streamed from disk (``rcv1.ShardedFeatures``) that offer len, shape, min, max and
        tf.data batches.
    y : ndarray [N], optional
        int64 labels, used only for metrics; None when unlabelled.
    name : str
        The dataset's name, as runs and records say it.
    image_shape : tuple of int, optional
        (H, W) when each row is a grey image, for pictures.
    """

    x: Any
    y: Optional[np.ndarray]
    name: str
    image_shape: Optional[tuple[int, int]] = None

    @property
    def input_dim(self) -> int:
        return int(self.x.shape[1])

    @property
    def in_memory(self) -> bool:
        return in_memory(self.x)


def require_dir(config, dataset: str, expected: str) -> Path:
    """``data.dir`` as a Path, or a one-line error saying what the directory must hold."""
    if config.dir is None:
        raise DataError(f"data.dir is not set for {dataset}; pass --data-dir DIR holding {expected}")
    directory = Path(config.dir)
    if not directory.is_dir():
        raise DataError(f"{directory} is not a directory; pass --data-dir DIR holding {expected}")
    return directory


def features(values, source: str, n_columns: Optional[int] = None) -> np.ndarray:
    """A finite, 2-D float32 matrix (dense even when stored sparse), or a one-line error naming ``source``."""
    if hasattr(values, "toarray"):  # scipy.sparse, as MATLAB files often store text features
        values = values.toarray()
    try:
        x = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        raise DataError(f"{source}: features are not numeric; check the file") from None
    if x.ndim != 2 or len(x) == 0:
        raise DataError(f"{source}: expected a [samples, features] matrix, got shape {x.shape}")
    if n_columns is not None and x.shape[1] != n_columns:
        raise DataError(f"{source}: expected {n_columns} features per sample, got {x.shape[1]}; "
                        "is this the right file?")
    if not np.all(np.isfinite(x)):
        raise DataError(f"{source}: features contain NaN or Inf; clean or impute them first")
    return x


def labels(values, source: str, n_samples: int, n_classes: Optional[int] = None,
           first: int = 0) -> np.ndarray:
    """Integer labels shifted to 0..K-1 (``first`` is the file's first label: 1 for MATLAB and UCI files),
    checked against the number of samples and, when given, the number of classes."""
    y = np.asarray(values).reshape(-1)
    if not (np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.bool_)):
        raise DataError(f"{source}: labels must be integers, got {y.dtype.name} values such as "
                        f"{str(y[0])!r}; map class names to 0..K-1 first")
    if y.size and not np.all(np.equal(np.mod(y, 1), 0)):
        raise DataError(f"{source}: labels must be integers")
    y = y.astype(np.int64) - first
    if len(y) != n_samples:
        raise DataError(f"{source}: {len(y)} labels for {n_samples} samples; the counts must match")
    if n_classes is not None and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"{source}: labels span {y.min() + first}..{y.max() + first}, expected "
                        f"{first}..{n_classes - 1 + first} ({n_classes} classes)")
    return y


def only_split_all(config, dataset: str) -> None:
    if config.split != "all":
        raise DataError(f"{dataset} has no train/test split of its own; set data.split=all")


def load_dataset(config) -> Dataset:
    """Load the dataset that ``config`` (a DataConfig) names, restricted to its split."""
    return resolve(DATASETS[config.name].load)(config)
