"""The paper's pictures as uint8 RGB arrays, drawn with NumPy alone (no plotting library).

Each function returns [H, W, 3] uint8, ready for ``tf.summary.image`` and for PNG files.
"""
from __future__ import annotations

import numpy as np

# Ten well-separated colours (Tableau 10), repeated for more classes.
PALETTE = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
                    [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]],
                   np.uint8)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """[H, W] or [H, W, C] floats in [0, 1] -> [H, W, 3] uint8: three channels are read as RGB, any
    other count as grey (their mean)."""
    image = np.clip(np.nan_to_num(image), 0.0, 1.0)
    if image.ndim == 3 and image.shape[-1] != 3:
        image = image.mean(axis=-1)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return (image * 255).round().astype(np.uint8)


def image_grid(images: np.ndarray, image_shape: tuple[int, ...], pad: int = 1) -> np.ndarray:
    """[rows, cols, H*W*C] flattened images in [0, 1], ``image_shape`` (H, W) or (H, W, C), row-major
    as the data holds them -> one RGB grid, ``pad`` white pixels apart."""
    rows, cols = images.shape[:2]
    h, w, channels = (*image_shape, 1)[:3]
    canvas = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, channels))
    for r in range(rows):
        for c in range(cols):
            top, left = pad + r * (h + pad), pad + c * (w + pad)
            canvas[top:top + h, left:left + w] = images[r, c].reshape(h, w, channels)
    return to_rgb(canvas)


def sprite(images: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """[n, H*W*C] flattened images in [0, 1] -> the Embedding Projector's sprite: a square grid of
    tiles, row-major in the order of the points, no padding (the projector cuts it by tile size)."""
    side = int(np.ceil(np.sqrt(len(images))))
    h, w, channels = (*image_shape, 1)[:3]
    tiles = np.zeros((side * side, h, w, channels))
    tiles[:len(images)] = images.reshape(len(images), h, w, channels)
    grid = tiles.reshape(side, side, h, w, channels).transpose(0, 2, 1, 3, 4)
    return to_rgb(grid.reshape(side * h, side * w, channels))


def heatmap(table: np.ndarray, cell: int = 24) -> np.ndarray:
    """A count table as a white-to-blue heatmap, each row normalised, ``cell`` pixels a cell."""
    table = np.asarray(table, np.float64)
    shares = table / np.maximum(table.sum(axis=1, keepdims=True), 1)
    blue = np.array([31, 119, 180], np.float64)
    colours = 255 - shares[..., None] * (255 - blue)                      # [R, C, 3]
    big = np.kron(colours, np.ones((cell, cell, 1)))
    big[::cell, :, :] = 200                                                # grid lines
    big[:, ::cell, :] = 200
    return big.round().astype(np.uint8)


def scatter(points: np.ndarray, classes: np.ndarray, size: int = 512, radius: int = 1) -> np.ndarray:
    """2-D points coloured by class on a white square (the t-SNE figure)."""
    canvas = np.full((size, size, 3), 255, np.uint8)
    low, high = points.min(axis=0), points.max(axis=0)
    scaled = (points - low) / np.maximum(high - low, 1e-12)
    pixels = (radius + scaled * (size - 1 - 2 * radius)).round().astype(int)
    colours = PALETTE[np.asarray(classes) % len(PALETTE)]
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            canvas[size - 1 - pixels[:, 1] + dy, pixels[:, 0] + dx] = colours
    return canvas


def confusion_in_label_order(table: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """Rows of a [cluster, label] count table reordered so cluster m^-1(label j) sits on row j;
    unmatched clusters follow. The diagonal is then what ACC counts."""
    order = [c for c, _ in sorted(mapping.items(), key=lambda item: item[1])]
    order += [c for c in range(table.shape[0]) if c not in mapping]
    return table[order]
