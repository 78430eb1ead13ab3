"""STL-10 as the paper uses it: 13,000 labelled images as 2,048 ResNet-50 features, 10 classes.

Reads ``stl10_binary/{train,test}_{X,y}.bin`` (uint8 images, 3 x 96 x 96 each, stored column-major;
labels 1-10), runs ImageNet ResNet-50 without its head on the 96 x 96 images and average-pools the
3 x 3 x 2048 last feature map to 2,048 features. Features are cached next to the data (or in
``data.cache_dir``), keyed by the split and the weights, so only the first run pays for extraction.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from vade_tf import files
from vade_tf.data.dataset import Dataset, features, labels, require_dir
from vade_tf.errors import DataError

SIDE, CHANNELS, N_CLASSES, N_FEATURES = 96, 3, 10, 2048
IMAGE_BYTES = SIDE * SIDE * CHANNELS
FOLDER = "stl10_binary"
EXPECTED = f"'{FOLDER}/' with train_X.bin, train_y.bin, test_X.bin, test_y.bin (https://cs.stanford.edu/~acoates/stl10/)"
EXTRACT_BATCH = 64


def count_images(path: Path) -> int:
    """The number of images in a ``*_X.bin`` file, checked from its size alone."""
    if not path.exists():
        raise DataError(f"{path} not found; expected {EXPECTED}")
    size = path.stat().st_size
    if size == 0 or size % IMAGE_BYTES:
        raise DataError(f"{path} holds {size} bytes, not a whole number of 96x96x3 images; "
                        "the file is truncated or not an STL-10 image file")
    return size // IMAGE_BYTES


def read_images(path: Path) -> np.ndarray:
    """[N, 96, 96, 3] uint8 in height-width-channel order."""
    count_images(path)
    # Each image is stored channel by channel, each channel column-major: (C, W, H) in C order.
    return np.fromfile(path, dtype=np.uint8).reshape(-1, CHANNELS, SIDE, SIDE).transpose(0, 3, 2, 1)


def read_labels(path: Path, n_images: int) -> np.ndarray:
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"{path} not found; expected {EXPECTED}") from None
    return labels(raw, str(path), n_images, N_CLASSES, first=1)


def _weights_tag(weights: Optional[str]) -> str:
    """What identifies the feature extractor in the cache name."""
    if weights is None:
        return "random"
    if weights == "imagenet":
        return "imagenet"
    path = Path(weights)
    if not path.exists():
        raise DataError(f"data.options.feature_weights: {path} not found; give a ResNet-50 (no top) .h5 "
                        "file or 'imagenet'")
    return "file-" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def feature_extractor(weights: Optional[str]):
    """ResNet-50 without its head, then 3 x 3 average pooling of the last map: [B, 96, 96, 3] -> [B, 2048]."""
    import keras

    backbone = keras.applications.ResNet50(include_top=False, weights=weights,
                                           input_shape=(SIDE, SIDE, CHANNELS))
    inputs = keras.Input((SIDE, SIDE, CHANNELS))
    pooled = keras.layers.AveragePooling2D(pool_size=3)(backbone(
        keras.applications.resnet50.preprocess_input(inputs)))
    return keras.Model(inputs, keras.layers.Flatten()(pooled))


def extract_features(images: np.ndarray, weights: Optional[str], verbose: bool = True) -> np.ndarray:
    import keras

    model = feature_extractor(weights)
    progress = keras.utils.Progbar(len(images), unit_name="image") if verbose else None
    out = []
    for start in range(0, len(images), EXTRACT_BATCH):
        batch = images[start:start + EXTRACT_BATCH].astype(np.float32)
        out.append(np.asarray(model(batch, training=False)))
        if progress is not None:
            progress.add(len(batch))
    return np.concatenate(out).astype(np.float32)


def cached_features(image_path: Path, cache_dir: Path, weights: Optional[str]) -> np.ndarray:
    """The split's features from the cache, or extracted and cached; a stale cache is recomputed."""
    n_images = count_images(image_path)
    cache = cache_dir / f"{image_path.stem}.resnet50-{_weights_tag(weights)}.npy"
    if cache.exists():
        x = np.load(cache, mmap_mode="r")
        if x.shape == (n_images, N_FEATURES):
            return np.array(x)
    print(f"extracting ResNet-50 features of {image_path} ({n_images} images)", flush=True)
    x = extract_features(read_images(image_path), weights)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        files.save_npy(cache, x)
    except OSError as e:
        raise DataError(f"cannot write the feature cache {cache} ({e.strerror}); set data.cache_dir "
                        "to a writable directory") from None
    return x


@dataclass(frozen=True)
class Options:
    """The ``data.options`` section of ``data.name = "stl10"``."""
    # ResNet-50 weights for the features: "imagenet" (Keras downloads them), a local .h5 file, or
    # null (random, for tests only).
    feature_weights: Optional[str] = "imagenet"

def load(config) -> Dataset:
    directory = require_dir(config, "stl10", EXPECTED)
    root = directory / FOLDER if (directory / FOLDER).is_dir() else directory
    cache_dir = Path(config.cache_dir) if config.cache_dir else root
    xs, ys = [], []
    for split in (["train", "test"] if config.split == "all" else [config.split]):
        image_path = root / f"{split}_X.bin"
        cached = cached_features(image_path, cache_dir, config.options.feature_weights)
        x = features(cached, str(image_path))
        xs.append(x)
        ys.append(read_labels(root / f"{split}_y.bin", len(x)))
    return Dataset(x=np.concatenate(xs), y=np.concatenate(ys), name="stl10")
