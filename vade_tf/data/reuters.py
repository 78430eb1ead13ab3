"""Reuters-10K: 10,000 RCV1 documents as 2,000 TF-IDF features, 4 root topics (DEC's subset).

Two native files are read: the authors' ``reuters10k.mat`` (X, Y with labels 0-3) and DEC's
``reutersidf10k.npy`` (a pickled dict with ``data`` and ``label``).
"""
from __future__ import annotations

import pickle
import zipfile

import numpy as np

from vade_tf.data.dataset import Dataset, features, labels, only_split_all, require_dir
from vade_tf.data.har import mat_arrays
from vade_tf.errors import DataError

N_FEATURES, N_CLASSES = 2000, 4
MAT_FILE, NPY_FILE = "reuters10k.mat", "reutersidf10k.npy"
EXPECTED = (f"{MAT_FILE} (from the VaDE authors' repository, github.com/slim1017/VaDE) or {NPY_FILE} "
            "(made by DEC's make_reuters script, github.com/piiswrong/dec)")


def _read_dec_npy(path) -> tuple:
    """DEC's file is a pickled dict inside .npy: trusted input only, as it can run code when loaded."""
    try:
        contents = np.load(path, allow_pickle=True)
        contents = contents.item() if contents.dtype == object and contents.shape == () else contents
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        raise DataError(f"{path} is not a readable .npy file ({e}); download it again") from None
    if not isinstance(contents, dict) or not {"data", "label"} <= set(contents):
        raise DataError(f"{path} is not DEC's dict with 'data' and 'label'")
    return contents["data"], contents["label"]


def load_reuters10k(config) -> Dataset:
    directory = require_dir(config, "reuters10k", EXPECTED)
    only_split_all(config, "reuters10k")
    mat, npy = directory / MAT_FILE, directory / NPY_FILE
    if mat.exists():
        source, (x_raw, y_raw) = mat, mat_arrays(mat, ("X", "Y"))
    elif npy.exists():
        source, (x_raw, y_raw) = npy, _read_dec_npy(npy)
    else:
        raise DataError(f"neither {mat} nor {npy} found; put {EXPECTED} in --data-dir")
    x = features(x_raw, str(source), N_FEATURES)
    return Dataset(x=x, y=labels(y_raw, str(source), len(x), N_CLASSES), name="reuters10k")
