"""MNIST and Fashion-MNIST from their four original IDX files (gzip), the format LeCun distributes and
Fashion-MNIST copies file for file, or Keras's ``mnist.npz``."""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from vade_tf.data.dataset import Dataset
from vade_tf.errors import DataError

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MNIST_ORIGIN = "https://storage.googleapis.com/cvdf-datasets/mnist/"
# Where Keras's fashion_mnist.load_data downloads the same four file names from.
FASHION_MNIST_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# Debian's dataset-fashion-mnist package installs the four files here.
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
# keras.datasets.mnist's single-file copy: uint8 arrays x_train [60000, 28, 28], y_train, x_test, y_test.
MNIST_NPZ = "mnist.npz"
# IDX magic: two zero bytes, the element type (0x08 = uint8), then the number of dimensions.
_UBYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX array (optionally gzip-compressed), checking its magic number and its size."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{path} not found; pass the directory holding it with --data-dir") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} is corrupt or truncated ({e}); download it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _UBYTE:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number); "
                        "check that it is an original MNIST file")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"{path} holds {len(raw)} bytes but its header promises {expected}; "
                        "the file is truncated, download it again")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _fetch(directory: Path, filename: str, download: bool, origin: str, dataset: str) -> Path:
    path = directory / filename
    if path.exists() or not download:
        return path
    import keras  # only needed for the download path

    try:
        directory.mkdir(parents=True, exist_ok=True)
        keras.utils.get_file(filename, origin + filename, cache_dir=str(directory.resolve()),
                             cache_subdir=".")
    except Exception as e:  # network errors come in many types; all mean the same to the user
        raise DataError(f"{path} not found and download failed ({type(e).__name__}); "
                        f"put the {dataset} IDX files there or pass --data-dir") from None
    return path


def _read_npz_split(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            images, labels = archive[f"x_{split}"], archive[f"y_{split}"]
    except KeyError as e:
        raise DataError(f"{path} lacks the array {e}; expected Keras's mnist.npz "
                        "(x_train, y_train, x_test, y_test)") from None
    except (OSError, ValueError, zlib.error) as e:
        raise DataError(f"{path} is corrupt or not an .npz archive ({e}); download it again") from None
    return images, labels


def read_idx_splits(directory: Path, split: str, download: bool, origin: str,
                    name: str) -> tuple[np.ndarray, np.ndarray]:
    """Images scaled to [0, 1] as rows [N, 784] and labels [N]; split "all" joins train then test.

    Reads the four IDX files when the first is there, else ``mnist.npz`` (MNIST's Keras copy), else
    downloads the IDX files from ``origin``.
    """
    use_npz = not (directory / MNIST_FILES["train"][0]).exists() and (directory / MNIST_NPZ).exists()
    splits = ["train", "test"] if split == "all" else [split]
    xs, ys = [], []
    for part in splits:
        if use_npz:
            source = directory / MNIST_NPZ
            images, labels = _read_npz_split(source, part)
        else:
            image_file, label_file = (_fetch(directory, f, download, origin, name) for f in MNIST_FILES[part])
            images, labels = read_idx(image_file), read_idx(label_file)
            source = image_file
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{source.name}: {len(images)} images but {len(labels)} labels; "
                            "the pair must match")
        xs.append(images.reshape(len(images), -1).astype(np.float32) / 255.0)
        ys.append(labels.astype(np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def load_mnist(config) -> Dataset:
    """MNIST scaled to [0, 1]; split "all" joins train and test (70,000 images) as the paper does."""
    if config.dir is None:
        raise DataError("data.dir is not set for mnist; pass --data-dir DIR with the four IDX .gz files "
                        "or mnist.npz")
    x, y = read_idx_splits(Path(config.dir), config.split, config.download, MNIST_ORIGIN, "MNIST")
    return Dataset(x=x, y=y, name="mnist", image_shape=(28, 28))


def load_fashion_mnist(config) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017), the same layout as MNIST: from ``data.dir``, else from Debian's
    ``dataset-fashion-mnist`` package when installed, else downloaded where Keras downloads it from."""
    if config.dir is not None:
        directory = Path(config.dir)
    elif (FASHION_MNIST_SYSTEM_DIR / MNIST_FILES["train"][0]).exists():
        directory = FASHION_MNIST_SYSTEM_DIR
    else:
        directory = Path(keras_home()) / "datasets" / "fashion-mnist"
        if not config.download:
            raise DataError("data.dir is not set for fashion_mnist and /usr/share/datasets/fashion-mnist is "
                            "empty; pass --data-dir DIR with the four IDX .gz files, or apt-get install "
                            "dataset-fashion-mnist")
    x, y = read_idx_splits(directory, config.split, config.download, FASHION_MNIST_ORIGIN, "Fashion-MNIST")
    return Dataset(x=x, y=y, name="fashion_mnist", image_shape=(28, 28))


def keras_home() -> str:
    """Keras's cache directory (``KERAS_HOME``, else ~/.keras), where its dataset downloads go."""
    return os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
