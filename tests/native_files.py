"""Writers of tiny datasets in each dataset's exact native format (the real files cannot be fetched here)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from vade_tf.data import har, rcv1, reuters, stl10


def write_uci_har(directory: Path, n_train=18, n_test=12, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """``UCI HAR Dataset/{train,test}/X_*.txt`` (561 space-padded floats a row) and ``y_*.txt`` (1-6)."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for split, n in (("train", n_train), ("test", n_test)):
        folder = directory / har.UCI_FOLDER / split
        folder.mkdir(parents=True)
        x = rng.uniform(-1, 1, (n, har.N_FEATURES))
        y = np.arange(n) % har.N_CLASSES + 1
        np.savetxt(folder / f"X_{split}.txt", x, fmt="%15.7e")
        np.savetxt(folder / f"y_{split}.txt", y, fmt="%d")
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def write_har_mat(directory: Path, n=24, seed=0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, har.N_FEATURES)), (np.arange(n) % har.N_CLASSES + 1)[:, None]
    scipy.io.savemat(directory / har.MAT_FILE, {"X": x, "Y": y})
    return x, y.ravel()


def write_reuters10k(directory: Path, kind: str, n=40, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """``reuters10k.mat`` (X stored sparse, as TF-IDF usually is; Y 0-3) or DEC's pickled ``.npy`` dict."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, reuters.N_FEATURES)) * (rng.uniform(size=(n, reuters.N_FEATURES)) < 0.02)
    y = np.arange(n) % reuters.N_CLASSES
    if kind == "mat":
        import scipy.sparse
        scipy.io.savemat(directory / reuters.MAT_FILE, {"X": scipy.sparse.csr_matrix(x), "Y": y[:, None]})
    else:
        np.save(directory / reuters.NPY_FILE, {"data": x.astype(np.float32), "label": y})
    return x, y


# Documents of the RCV1 token format: single-topic documents of each root, one with two roots and
# one with none (both must be dropped).
RCV1_DOCS = {
    2286: ("CCAT", "market shares rose market trading shares"),
    2287: ("GCAT", "election vote parliament vote minister"),
    2288: ("MCAT", "bond yields futures bond market"),
    2289: ("ECAT", "inflation rate economy growth rate"),
    2290: ("CCAT GCAT", "shares election"),
    2291: ("", "weather sunny"),
    26151: ("GCAT", "minister election vote vote"),
    26152: ("MCAT", "futures trading bond yields"),
    26153: ("CCAT", "company shares profit profit"),
}


def write_rcv1(directory: Path) -> dict[int, tuple[int, str]]:
    """The five LYRL2004 token files and the topic qrels; returns doc id -> (label, text) of kept docs."""
    directory.mkdir(parents=True, exist_ok=True)
    train = {d: v for d, v in RCV1_DOCS.items() if d < 26151}
    test = {d: v for d, v in RCV1_DOCS.items() if d >= 26151}
    for name, docs in zip(rcv1.TOKEN_FILES, (train, test, {}, {}, {})):
        with open(directory / name, "w") as f:
            for doc_id, (_, text) in docs.items():
                words = text.split()
                f.write(f".I {doc_id}\n.W\n{' '.join(words[:3])}\n{' '.join(words[3:])}\n\n")
    with open(directory / rcv1.QRELS_FILE, "w") as f:
        for doc_id, (topics, _) in RCV1_DOCS.items():
            for topic in topics.split():
                f.write(f"{topic} {doc_id} 1\n")
            f.write(f"C15 {doc_id} 1\n")  # a non-root topic: ignored
    return {d: (rcv1.ROOT_TOPICS.index(t), text) for d, (t, text) in RCV1_DOCS.items() if len(t.split()) == 1}


def write_stl10(directory: Path, n_train=3, n_test=2, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """``stl10_binary/{train,test}_{X,y}.bin``: uint8 images stored channel, column, row; labels 1-10."""
    rng = np.random.default_rng(seed)
    folder = directory / stl10.FOLDER
    folder.mkdir(parents=True)
    images, ys = [], []
    for split, n in (("train", n_train), ("test", n_test)):
        hwc = rng.integers(0, 256, size=(n, stl10.SIDE, stl10.SIDE, stl10.CHANNELS), dtype=np.uint8)
        hwc.transpose(0, 3, 2, 1).tofile(folder / f"{split}_X.bin")
        y = (np.arange(n) % stl10.N_CLASSES + 1).astype(np.uint8)
        y.tofile(folder / f"{split}_y.bin")
        images.append(hwc)
        ys.append(y)
    return np.concatenate(images), np.concatenate(ys)
