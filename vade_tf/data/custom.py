"""Your own matrix (``data.name = "custom"``): the file at ``data.options.path``, ``.npy`` (features
only), ``.npz`` (``X`` and optional ``y``) or ``.csv`` (a header row; ``data.options.label_column``
names the label column, if any), read by ``vade_tf.data.user_files``. Labels are optional and used
only for metrics; without them a run trains and reports the ELBO.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from vade_tf.data.dataset import Dataset, features, labels, only_split_all
from vade_tf.data.user_files import FORMATS, read_matrix
from vade_tf.errors import DataError


@dataclass(frozen=True)
class Options:
    """The ``data.options`` section of ``data.name = "custom"``."""
    # The file to read.
    path: Optional[str] = None
    # The CSV column holding labels (None: unlabelled).
    label_column: Optional[str] = None

def load(config) -> Dataset:
    options = config.options
    if options.path is None:
        raise DataError(f"data.options.path is not set for custom data; set it to a {', '.join(FORMATS)} "
                        "file")
    only_split_all(config, "custom data")
    path = Path(options.path)
    x_raw, y_raw = read_matrix(path, options.label_column)
    x = features(x_raw, str(path))
    y = None if y_raw is None else labels(y_raw, str(path), len(x))
    if y is not None and y.min() < 0:
        raise DataError(f"{path}: labels must be non-negative integers")
    return Dataset(x=x, y=y, name=path.stem)
