"""A user's own matrix files, read in one place: training reads one whole (``data.name = "custom"``),
vade-predict a batch at a time.

- ``.npy``: the features alone, a numeric [samples, features] array (memory-mapped when batched);
- ``.npz``: array ``X`` and optional labels ``y`` (read whole: NumPy stores it compressed);
- ``.csv``: a header row, then one numeric row per sample (a batch of lines at a time); for training,
  ``data.options.label_column`` names the column that holds labels.

Every refusal is one ``DataError`` line naming the file and the fix.
"""
from __future__ import annotations

import csv
import itertools
import zipfile
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from vade_tf.errors import DataError

FORMATS = (".npy", ".npz", ".csv")
WHOLE = 65_536  # CSV rows parsed at a time when a file is read whole


def check_file(path: Path, option: str) -> None:
    """A file of one of ``FORMATS`` at ``path``, which ``option`` (the setting or flag) names."""
    if path.is_dir():
        raise DataError(f"{path} is a directory; set {option} to a {', '.join(FORMATS)} file in it")
    if path.suffix not in FORMATS:
        raise DataError(f"{path}: unsupported format '{path.suffix}'; use one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise DataError(f"{path} not found; check {option}")


def _npy(path: Path, mmap: bool) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as e:
        raise DataError(f"{path} is not a plain numeric .npy array ({e}); save it with np.save") from None


def read_npz(path: Path) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """(features X, labels y or None) of an .npz archive."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "X" not in archive:
                raise DataError(f"{path} has no array 'X' (it has: {', '.join(archive.files)}); "
                                "save features as X and optional labels as y")
            return archive["X"], (archive["y"] if "y" in archive else None)
    except (ValueError, zipfile.BadZipFile) as e:
        raise DataError(f"{path} is not a readable .npz archive ({e}); save it with np.savez") from None


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV file's header row."""
    with open(path, newline="") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise DataError(f"{path} is empty; expected a header row, then one numeric row per sample")
    return [name.strip() for name in header]


def csv_batches(path: Path, batch_size: int, dtype=np.float32) -> Iterator[np.ndarray]:
    """The numeric rows of a CSV file after its header, ``batch_size`` rows at a time, each as wide as
    the header."""
    width = len(csv_header(path))
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        while batch := list(itertools.islice(reader, batch_size)):
            try:
                rows = np.array(batch, dtype=dtype)
            except ValueError:
                rows = None  # ragged rows or a non-number
            if rows is None or rows.shape[1] != width:
                raise DataError(f"{path} near line {reader.line_num}: a non-numeric, missing or extra value; "
                                f"every row needs the header's {width} numbers")
            yield rows


def _matrix_batches(path: Path, rows: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    if rows.ndim != 2 or not np.issubdtype(rows.dtype, np.number):
        raise DataError(f"{path}: expected a numeric [samples, features] matrix, got {rows.dtype.name} "
                        f"of shape {rows.shape}")
    for start in range(0, len(rows), batch_size):
        yield np.asarray(rows[start:start + batch_size], dtype=np.float32)


def read_batches(path: Path, batch_size: int) -> Iterator[np.ndarray]:
    """The rows of a .npy, .npz or .csv file (every CSV column a feature), float32, a batch at a
    time: what vade-predict clusters."""
    check_file(path, "--input")
    if path.suffix == ".csv":
        return csv_batches(path, batch_size)
    rows = read_npz(path)[0] if path.suffix == ".npz" else _npy(path, mmap=True)
    return _matrix_batches(path, rows, batch_size)


def read_matrix(path: Path, label_column: Optional[str] = None) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """(features, labels or None) of a whole file, as stored: what training reads. ``label_column``
    names a CSV's label column."""
    check_file(path, "data.options.path")
    if path.suffix != ".csv":
        if label_column is not None:
            raise DataError(f"data.options.label_column applies to CSV files only; {path.name} keeps labels "
                            "as 'y'")
        return read_npz(path) if path.suffix == ".npz" else (_npy(path, mmap=False), None)
    header = csv_header(path)
    if label_column is not None and label_column not in header:
        raise DataError(f"{path} has no column '{label_column}' (data.options.label_column); "
                        f"its columns: {', '.join(header[:10])}")
    batches = list(csv_batches(path, WHOLE, np.float64))
    table = np.concatenate(batches) if batches else np.empty((0, len(header)))
    if label_column is None:
        return table, None
    column = header.index(label_column)
    return np.delete(table, column, axis=1), table[:, column]
