"""Your own matrix: ``.npy`` (features only), ``.npz`` (``X`` and optional ``y``) or ``.csv``.

A CSV has a header row and numeric columns; ``data.label_column`` names the label column, if any.
Labels are optional and used only for metrics; without them a run trains and reports the ELBO.
"""
from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

from vade_tf.data.dataset import Dataset, features, labels, only_split_all
from vade_tf.errors import DataError

FORMATS = (".npy", ".npz", ".csv")


def _read_npy(path: Path) -> tuple:
    try:
        return np.load(path, allow_pickle=False), None
    except ValueError as e:
        raise DataError(f"{path} is not a plain numeric .npy array ({e}); save it with np.save") from None


def read_npz(path: Path) -> tuple:
    """(features X, labels y or None) of an .npz archive, or a one-line error naming the file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "X" not in archive:
                raise DataError(f"{path} has no array 'X' (it has: {', '.join(archive.files)}); "
                                "save features as X and optional labels as y")
            return archive["X"], (archive["y"] if "y" in archive else None)
    except (ValueError, zipfile.BadZipFile) as e:
        raise DataError(f"{path} is not a readable .npz archive ({e}); save it with np.savez") from None


def _read_csv(path: Path, label_column) -> tuple:
    with open(path, newline="") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise DataError(f"{path} is empty; expected a header row, then one numeric row per sample")
    header = [name.strip() for name in header]
    if label_column is not None and label_column not in header:
        raise DataError(f"{path} has no column '{label_column}' (data.label_column); "
                        f"its columns: {', '.join(header[:10])}")
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)
    except ValueError as e:
        raise DataError(f"{path} has a non-numeric or missing value ({e}); clean the file") from None
    if table.shape[1] != len(header):
        raise DataError(f"{path}: {table.shape[1]} values a row but {len(header)} header names")
    if label_column is None:
        return table, None
    column = header.index(label_column)
    return np.delete(table, column, axis=1), table[:, column]


def load(config) -> Dataset:
    if config.path is None:
        raise DataError("data.path is not set for custom data; set it to a .npy, .npz or .csv file")
    path = Path(config.path)
    only_split_all(config, "custom data")
    if path.is_dir():
        raise DataError(f"{path} is a directory; set data.path to a {', '.join(FORMATS)} file in it")
    if path.suffix not in FORMATS:
        raise DataError(f"{path}: unsupported format '{path.suffix}'; use one of {', '.join(FORMATS)}")
    if not path.exists():
        raise DataError(f"{path} not found; check data.path")
    if path.suffix == ".csv":
        x_raw, y_raw = _read_csv(path, config.label_column)
    elif config.label_column is not None:
        raise DataError(f"data.label_column applies to CSV files only; {path.name} keeps labels as 'y'")
    else:
        x_raw, y_raw = read_npz(path) if path.suffix == ".npz" else _read_npy(path)
    x = features(x_raw, str(path))
    y = None if y_raw is None else labels(y_raw, str(path), len(x))
    if y is not None and y.min() < 0:
        raise DataError(f"{path}: labels must be non-negative integers")
    return Dataset(x=x, y=y, name=path.stem)
