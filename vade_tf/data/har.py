"""HHAR as the paper uses it (really UCI HAR): 10,299 x 561 sensor features, 6 activities.

Two native layouts are read: the UCI zip extracted (``UCI HAR Dataset/{train,test}/X_*.txt`` and
``y_*.txt``, whitespace-separated, labels 1-6) and the authors' ``HAR.mat`` (X, Y; Y 1-based).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vade_tf.data.dataset import Dataset, features, labels, require_dir
from vade_tf.errors import DataError

N_FEATURES, N_CLASSES = 561, 6
MAT_FILE = "HAR.mat"
UCI_FOLDER = "UCI HAR Dataset"
EXPECTED = (f"{MAT_FILE}, or the extracted UCI zip ('{UCI_FOLDER}/train/X_train.txt', y_train.txt, and "
            "the test pair; https://archive.ics.uci.edu/dataset/240)")


def read_text_matrix(path: Path) -> np.ndarray:
    try:
        return np.loadtxt(path, dtype=np.float64, ndmin=2)
    except FileNotFoundError:
        raise DataError(f"{path} not found; expected {EXPECTED}") from None
    except ValueError as e:
        raise DataError(f"{path} is not a whitespace-separated numeric table ({e})") from None


def read_mat(path: Path) -> dict:
    """A MATLAB v5 file's variables; v7.3 (HDF5) files are refused with the way out."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        return loadmat(path)
    except NotImplementedError:
        raise DataError(f"{path} is a MATLAB v7.3 (HDF5) file; re-save it with save(..., '-v7')") from None
    except (MatReadError, ValueError, OSError) as e:
        raise DataError(f"{path} is not a readable MATLAB file ({e}); download it again") from None


def mat_arrays(path: Path, keys: tuple[str, str]) -> tuple:
    contents = read_mat(path)
    missing = [k for k in keys if k not in contents]
    if missing:
        raise DataError(f"{path} lacks the variable(s) {', '.join(missing)}; expected {' and '.join(keys)}")
    return tuple(contents[k] for k in keys)


def _uci_root(directory: Path) -> Path:
    return directory / UCI_FOLDER if (directory / UCI_FOLDER).is_dir() else directory


def load(config) -> Dataset:
    """Train and test together (split "all", the paper's protocol), or one UCI split."""
    directory = require_dir(config, "hhar", EXPECTED)
    mat = directory / MAT_FILE
    if mat.exists():
        if config.split != "all":
            raise DataError(f"{mat} holds no train/test split; set data.split=all or use the UCI files")
        x_raw, y_raw = mat_arrays(mat, ("X", "Y"))
        x = features(x_raw, str(mat), N_FEATURES)
        return Dataset(x=x, y=labels(y_raw, str(mat), len(x), N_CLASSES, first=1), name="hhar")
    root = _uci_root(directory)
    xs, ys = [], []
    for split in (["train", "test"] if config.split == "all" else [config.split]):
        x_path, y_path = root / split / f"X_{split}.txt", root / split / f"y_{split}.txt"
        x = features(read_text_matrix(x_path), str(x_path), N_FEATURES)
        xs.append(x)
        ys.append(labels(read_text_matrix(y_path), str(y_path), len(x), N_CLASSES, first=1))
    return Dataset(x=np.concatenate(xs), y=np.concatenate(ys), name="hhar")
