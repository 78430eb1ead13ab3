"""How a Gaussian model scales its features (``model.standardize``), from the training data's moments.

The offset and scale live in the model's weights (``VaDE.set_standardization``), so checkpoints and
the SavedModel take raw rows; the ELBO stays the raw rows' density (a change of variables).
"""
from __future__ import annotations

import numpy as np
from sklearn.utils.sparsefuncs import mean_variance_axis

from vade_tf.data.dataset import in_memory
from vade_tf.data.sparse import SparseRows

# "auto" scales each feature by its own deviation when the widest feature's deviation is over
# UNIT_SPREAD times the median feature's: measurements in different units (wine's proline in the
# hundreds beside hues near 1), where a model of the raw geometry sees only the widest feature (on
# wine and breast cancer VaDE then put every sample in one cluster). Otherwise the features keep
# their relative spreads ("global"): they are part of what separates the clusters, which k-means on
# the raw features uses and per-feature scaling throws away (results/bench-datasets-scaling.md).
UNIT_SPREAD = 100.0


def _moments(x) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's mean and deviation, in float64 (columns near 1e30 do not overflow), of an
    array or a sparse matrix (``SparseRows``, without densifying it)."""
    if isinstance(x, SparseRows):
        mean, variance = mean_variance_axis(x.matrix.astype(np.float64), axis=0)
        return mean, np.sqrt(np.maximum(variance, 0.0))  # round-off can take a constant column below 0
    x = np.asarray(x, np.float64)
    return x.mean(axis=0), x.std(axis=0)


def _varies(mean: np.ndarray, deviation: np.ndarray) -> np.ndarray:
    return deviation > 1e-12 * np.maximum(1.0, np.abs(mean))


def scaling_for(x) -> str:
    """The "auto" scaling of features ``x``: "features" when their deviations spread over more than
    ``UNIT_SPREAD`` (the widest against the median, of the features that vary), else "global";
    "none" for features streamed from disk, whose moments would take a pass of their own."""
    if not in_memory(x):
        return "none"
    mean, deviation = _moments(x)
    varying = deviation[_varies(mean, deviation)]
    if not varying.size:
        return "global"
    return "features" if varying.max() > UNIT_SPREAD * np.median(varying) else "global"


def feature_moments(x, scaling: str) -> tuple[np.ndarray, np.ndarray]:
    """The offset and scale that ``scaling`` ("features" or "global") applies to features ``x``.

    Parameters
    ----------
    x : array [N, D] or SparseRows
        The training features, in memory.
    scaling : str
        "features": each feature's mean and deviation; "global": each feature's mean and, for all,
        the pooled deviation (the root of the features' mean variance). Under "features" a constant
        feature is only shifted (its scale is 1); so is every feature of data that does not vary.

    Returns
    -------
    offset, scale : arrays [D], float64
    """
    mean, deviation = _moments(x)
    varies = _varies(mean, deviation)
    if scaling == "global":
        pooled = np.sqrt(np.mean(np.square(deviation))) if varies.any() else 1.0
        return mean, np.full_like(mean, pooled)
    return mean, np.where(varies, deviation, 1.0)
