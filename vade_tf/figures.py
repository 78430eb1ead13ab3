"""The run's pictures, drawn with matplotlib (its object interface: no global backend is set) and
returned as uint8 RGB arrays [H, W, 3], ready for ``tf.summary.image`` and for PNG files: sample and
reconstruction grids with a label on each row, the confusion matrix with its counts, names and colour
scale, the t-SNE of the latent means with legends; and the Embedding Projector's sprite (NumPy).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vade_tf.metrics import cluster_to_label, contingency

DPI = 100
CELL = 0.45  # inches a grid image or a confusion cell takes


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


def pixels(figure: Figure) -> np.ndarray:
    """A figure rendered at its size in pixels, [H, W, 3] uint8."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def labelled_grid(images: np.ndarray, image_shape: tuple[int, ...], row_names: Sequence[str],
                  title: str) -> np.ndarray:
    """[rows, cols, H*W*C] images in [0, 1] as a grid (``image_grid``) with each row's name beside it:
    (0.5 + 0.45 * rows) x (1.8 + 0.45 * cols) inches at ``DPI``."""
    rows, cols = images.shape[:2]
    figure = Figure(figsize=(1.8 + CELL * cols, 0.5 + CELL * rows), dpi=DPI, layout="constrained")
    axes = figure.subplots()
    grid = image_grid(images, image_shape)
    axes.imshow(grid, interpolation="nearest")
    h = image_shape[0]
    axes.set_yticks([1 + r * (h + 1) + h / 2 for r in range(rows)], row_names, fontsize=8)
    axes.set_xticks([])
    axes.set_title(title, fontsize=9)
    return pixels(figure)


def confusion_counts(y_true: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, list, dict]:
    """(the [cluster, class] count table with clusters in matched order, those clusters, the match):
    the Hungarian match behind ACC puts cluster m^-1(class j) on row j, unmatched clusters after, so
    the diagonal is what ACC counts."""
    mapping = cluster_to_label(y_true, clusters)
    order = [c for c, _ in sorted(mapping.items(), key=lambda item: item[1])]
    table = contingency(y_true, clusters)
    order += [c for c in range(table.shape[0]) if c not in mapping]
    return table[order], order, mapping


def confusion_figure(table: np.ndarray, row_names: Sequence[str], column_names: Sequence[str],
                     title: str) -> np.ndarray:
    """The count table drawn: each cell's count, shaded by its share of the row (the cluster), a
    colour bar for that share, clusters down and classes across."""
    rows, columns = table.shape
    shares = table / np.maximum(table.sum(axis=1, keepdims=True), 1)
    figure = Figure(figsize=(3.2 + 0.55 * columns, 1.8 + CELL * rows), dpi=DPI, layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for r in range(rows):
        for c in range(columns):
            axes.text(c, r, str(int(table[r, c])), ha="center", va="center", fontsize=7,
                      color="white" if shares[r, c] > 0.6 else "black")
    axes.set_xticks(range(columns), column_names, rotation=45 if max(map(len, column_names)) > 2 else 0,
                    ha="right" if max(map(len, column_names)) > 2 else "center", fontsize=8)
    axes.set_yticks(range(rows), row_names, fontsize=8)
    axes.set_xlabel("true class")
    axes.set_ylabel("cluster (its matched class)")
    figure.colorbar(image, ax=axes, label="share of the cluster's samples", shrink=0.8)
    axes.set_title(title, fontsize=9)
    return pixels(figure)


def tsne_figure(points: np.ndarray, clusters: np.ndarray, classes: np.ndarray | None,
                class_name: Callable[[int], str], title: str) -> np.ndarray:
    """2-D points in one panel coloured by true class (when there are classes, each named by
    ``class_name``) and one by cluster, each with its legend: 5 inches high, 6 wide a panel."""
    panels = ([("true class", classes, class_name)] if classes is not None else []) + \
        [("cluster", clusters, str)]
    figure = Figure(figsize=(6.0 * len(panels), 5.0), dpi=DPI, layout="constrained")
    for axes, (what, groups, name) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        palette = colormaps["tab10" if len(np.unique(groups)) <= 10 else "tab20"]
        for i, group in enumerate(np.unique(groups)):
            chosen = groups == group
            axes.scatter(points[chosen, 0], points[chosen, 1], s=4, label=name(int(group)),
                         color=palette(i % palette.N))
        axes.legend(title=what, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, markerscale=3,
                    title_fontsize=8, frameon=False)
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(f"coloured by {what}", fontsize=9)
    figure.suptitle(title, fontsize=10)
    return pixels(figure)

